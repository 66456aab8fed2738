/**
 * Who is calling. In Azure, App Service Authentication (Easy Auth) puts the signed-in identity in the
 * `x-ms-client-principal` header: base64 JSON `{ auth_typ, name_typ, role_typ, claims: [{ typ, val }] }`
 * (https://learn.microsoft.com/azure/app-service/configure-authentication-user-identities). The app roles
 * `Admin` and `Contributor` arrive as role claims. Clients cannot forge the header: the platform strips
 * any incoming copy before adding its own.
 *
 * `LOCAL_DEV_MODE` lets a request that carries no principal and comes from loopback act as a local admin;
 * a principal, when present, is always honoured (so tests and the admin page can act as a contributor).
 */
import type { HttpRequest } from '@azure/functions';
import { z } from 'zod';

import { UnauthenticatedError } from '../errors';

/** The app roles this API knows. */
export const ROLES = ['Admin', 'Contributor'] as const;
export type Role = (typeof ROLES)[number];

/** The caller, as the API sees it. */
export interface Principal {
  /** Stable id (the object id claim, else the name); recorded as `createdBy`/`updatedBy`. */
  id: string;
  /** Display name, for people reading records. */
  name: string;
  roles: ReadonlySet<Role>;
  /** True for the local development admin (LOCAL_DEV_MODE, loopback, no principal). */
  local: boolean;
}

/** The principal of a local development request (no header, LOCAL_DEV_MODE, loopback). */
export const LOCAL_ADMIN: Principal = Object.freeze({
  id: 'local-admin',
  name: 'local-admin',
  roles: new Set<Role>(['Admin']),
  local: true,
});

const ClientPrincipal = z.object({
  auth_typ: z.string().optional(),
  name_typ: z.string().optional(),
  role_typ: z.string().optional(),
  claims: z.array(z.object({ typ: z.string(), val: z.string() })).default([]),
});

const ROLE_CLAIMS = ['roles', 'role', 'http://schemas.microsoft.com/ws/2008/06/identity/claims/role'];
const NAME_CLAIMS = [
  'name',
  'preferred_username',
  'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name',
  'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress',
];
const ID_CLAIMS = ['http://schemas.microsoft.com/identity/claims/objectidentifier', 'oid', 'sub'];

/** Decodes an `x-ms-client-principal` header value; throws `UnauthenticatedError` when it is unusable. */
export function parseClientPrincipal(
  header: string,
  fallback: { id?: string; name?: string } = {},
): Principal {
  let json: unknown;
  try {
    const text = Buffer.from(header.trim(), 'base64').toString('utf8');
    json = JSON.parse(text);
  } catch {
    throw new UnauthenticatedError('The x-ms-client-principal header is not base64-encoded JSON');
  }
  const parsed = ClientPrincipal.safeParse(json);
  if (!parsed.success) {
    throw new UnauthenticatedError('The x-ms-client-principal header does not hold a client principal');
  }
  const { claims, name_typ, role_typ } = parsed.data;
  const valuesOf = (types: readonly (string | undefined)[]) =>
    claims
      .filter((c) => types.some((t) => t !== undefined && c.typ.toLowerCase() === t.toLowerCase()))
      .map((c) => c.val);
  const roles = new Set<Role>();
  for (const value of valuesOf([role_typ, ...ROLE_CLAIMS])) {
    const role = ROLES.find((r) => r.toLowerCase() === value.trim().toLowerCase());
    if (role) roles.add(role);
  }
  const name = valuesOf([name_typ, ...NAME_CLAIMS])[0] ?? fallback.name;
  const id = valuesOf(ID_CLAIMS)[0] ?? fallback.id ?? name;
  if (!id) throw new UnauthenticatedError('The x-ms-client-principal header names no user');
  return { id, name: name ?? id, roles, local: false };
}

/** True when the request was made to a loopback address and passed through no proxy. */
export function isLoopbackRequest(request: Pick<HttpRequest, 'url' | 'headers'>): boolean {
  let hostname: string;
  try {
    hostname = new URL(request.url).hostname.replace(/^\[|\]$/g, '').toLowerCase();
  } catch {
    return false;
  }
  const loopback = hostname === 'localhost' || hostname === '::1' || /^127(\.\d{1,3}){3}$/.test(hostname);
  // Azure's front ends add X-Forwarded-For; a request that came through one is not a local one.
  return loopback && !request.headers.get('x-forwarded-for') && !request.headers.get('x-arr-log-id');
}

/**
 * The request's principal: the Easy Auth header when present; else the local admin when `localDevMode`
 * and the request is a loopback one; else `UnauthenticatedError` (401).
 */
export function principalOf(
  request: Pick<HttpRequest, 'url' | 'headers'>,
  options: { localDevMode: boolean },
): Principal {
  const header = request.headers.get('x-ms-client-principal');
  if (header !== null && header.trim() !== '') {
    return parseClientPrincipal(header, {
      id: request.headers.get('x-ms-client-principal-id') ?? undefined,
      name: request.headers.get('x-ms-client-principal-name') ?? undefined,
    });
  }
  if (options.localDevMode && isLoopbackRequest(request)) return LOCAL_ADMIN;
  throw new UnauthenticatedError('Sign-in required: the request carries no x-ms-client-principal');
}

/** Encodes a principal header as Easy Auth would (for tests, scripts and the docs' curl examples). */
export function encodeClientPrincipal(user: { id: string; name?: string; roles: readonly string[] }): string {
  const claims = [
    { typ: 'http://schemas.microsoft.com/identity/claims/objectidentifier', val: user.id },
    { typ: 'name', val: user.name ?? user.id },
    ...user.roles.map((role) => ({ typ: 'roles', val: role })),
  ];
  return Buffer.from(
    JSON.stringify({ auth_typ: 'aad', name_typ: 'name', role_typ: 'roles', claims }),
  ).toString('base64');
}
