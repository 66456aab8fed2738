import { describe, expect, it } from 'vitest';

import { toSetCookieHeader } from '../../../../dev/host/http/rpcHttp';

describe('toSetCookieHeader', () => {
  it('writes every attribute the library puts on the wire', () => {
    expect(
      toSetCookieHeader({
        name: 'a',
        value: 'b',
        domain: { value: 'example.com' },
        path: { value: '/x' },
        expires: { value: { seconds: 0 } },
        maxAge: { value: 10 },
        secure: { value: true },
        httpOnly: { value: true },
        sameSite: 'explicitNone',
      }),
    ).toBe(
      'a=b; Domain=example.com; Path=/x; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=10; Secure; HttpOnly; SameSite=None',
    );
  });

  it('omits SameSite when the proto default "none" (unset) is given', () => {
    expect(toSetCookieHeader({ name: 'a', value: 'b', sameSite: 'none' })).toBe('a=b');
  });
});
