import { describe, expect, it } from 'vitest';

import { UnauthenticatedError } from '../../../shared/errors';
import {
  encodeClientPrincipal,
  isLoopbackRequest,
  LOCAL_ADMIN,
  parseClientPrincipal,
  principalOf,
} from '../../../shared/http/principal';
import { request } from './helpers';

const easyAuthHeader = (claims: Array<{ typ: string; val: string }>, extra: Record<string, string> = {}) =>
  Buffer.from(
    JSON.stringify({
      auth_typ: 'aad',
      name_typ: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name',
      role_typ: 'http://schemas.microsoft.com/ws/2008/06/identity/claims/role',
      claims,
      ...extra,
    }),
  ).toString('base64');

describe('parseClientPrincipal', () => {
  it('reads the id, name and app roles when the header is what Easy Auth sends', () => {
    const principal = parseClientPrincipal(
      easyAuthHeader([
        { typ: 'http://schemas.microsoft.com/identity/claims/objectidentifier', val: 'oid-1' },
        { typ: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name', val: 'Ada' },
        { typ: 'http://schemas.microsoft.com/ws/2008/06/identity/claims/role', val: 'Contributor' },
        { typ: 'http://schemas.microsoft.com/ws/2008/06/identity/claims/role', val: 'SomethingElse' },
      ]),
    );
    expect(principal).toEqual({ id: 'oid-1', name: 'Ada', roles: new Set(['Contributor']), local: false });
  });

  it('round-trips the header encodeClientPrincipal builds', () => {
    const principal = parseClientPrincipal(
      encodeClientPrincipal({ id: 'u1', name: 'Bob', roles: ['Admin'] }),
    );
    expect(principal).toEqual({ id: 'u1', name: 'Bob', roles: new Set(['Admin']), local: false });
  });

  it('throws UnauthenticatedError when the header is not base64 JSON', () => {
    expect(() => parseClientPrincipal('%%%not-base64')).toThrow(UnauthenticatedError);
    expect(() => parseClientPrincipal(Buffer.from('{"claims": 5}').toString('base64'))).toThrow(
      /does not hold a client principal/,
    );
  });

  it('throws when the principal names no user at all', () => {
    expect(() => parseClientPrincipal(easyAuthHeader([]))).toThrow(/names no user/);
  });
});

describe('principalOf', () => {
  it('gives the local admin when local dev mode is on, the request is loopback and has no principal', () => {
    expect(principalOf(request(), { localDevMode: true })).toBe(LOCAL_ADMIN);
  });

  it('answers 401 when there is no principal and local dev mode is off', () => {
    expect(() => principalOf(request(), { localDevMode: false })).toThrow(UnauthenticatedError);
  });

  it('answers 401 in local dev mode when the request is not a loopback one', () => {
    const remote = request({ url: 'https://app.azurewebsites.net/api/things' });
    expect(() => principalOf(remote, { localDevMode: true })).toThrow(UnauthenticatedError);
    const proxied = request({ headers: { 'x-forwarded-for': '203.0.113.9' } });
    expect(() => principalOf(proxied, { localDevMode: true })).toThrow(UnauthenticatedError);
  });

  it('honours a principal in local dev mode instead of making the caller an admin', () => {
    const header = encodeClientPrincipal({ id: 'c1', roles: ['Contributor'] });
    const principal = principalOf(request({ headers: { 'x-ms-client-principal': header } }), {
      localDevMode: true,
    });
    expect(principal.roles).toEqual(new Set(['Contributor']));
    expect(principal.local).toBe(false);
  });
});

describe('isLoopbackRequest', () => {
  it('accepts 127.0.0.0/8, localhost and ::1 and refuses other hosts', () => {
    expect(isLoopbackRequest(request({ url: 'http://127.0.0.1:1/x' }))).toBe(true);
    expect(isLoopbackRequest(request({ url: 'http://localhost:1/x' }))).toBe(true);
    expect(isLoopbackRequest(request({ url: 'http://[::1]:1/x' }))).toBe(true);
    expect(isLoopbackRequest(request({ url: 'http://10.0.0.1:1/x' }))).toBe(false);
  });
});
