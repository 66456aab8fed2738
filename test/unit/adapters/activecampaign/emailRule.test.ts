import { describe, expect, it } from 'vitest';

import { sandboxEmailValid } from '../../../../dev/sandbox/account';
import { isAcceptableEmail } from '../../../../shared/adapters/activecampaign/batches';
import { emailProblem } from '../../../../shared/domain/segments/contact';

// Addresses where readings of ActiveCampaign's rule ("a `.` followed by ≥2 letters") can differ.
const TRICKY = [
  'a@example.com',
  'A@EXAMPLE.COM',
  'first.last+tag@sub.example.co.uk',
  'josé@exämple.de',
  "o'brien@example.org",
  'user@example.xn--p1ai',
  'x@xn--p1ai.xn--p1ai',
  'user@xn--bcher-kva.de',
  'a@example.c0m',
  'a@example.123',
  'a@example.co1',
  'a@example.c',
  'a@example.é',
  'a@example.ру',
  'a@b..com',
  'a@.com',
  'a@b.com.',
  'a@b.-com',
  'a@example',
  '@example.com',
  'a@@example.com',
  'a@b@example.com',
  'a b@example.com',
  'a\tb@example.com',
  'a\u00a0b@example.com',
  'a\u0001b@example.com',
  'a@exa\u0007mple.com',
  'a\u007f@example.com',
  'a"b@example.com',
  'a(b)@example.com',
  'a,b@example.com',
  'a:b@example.com',
  'a;b@example.com',
  '<a>@example.com',
  'a[b]@example.com',
  'a\\b@example.com',
  ' a@example.com',
  'a@example.com ',
  'a@example.com\n',
  '',
];

describe('the email rule', () => {
  it('never accepts an address the sandbox (ActiveCampaign) rejects when given tricky addresses', () => {
    const acceptedBySandbox = TRICKY.filter((email) => sandboxEmailValid(email));
    const laxer = TRICKY.filter((email) => emailProblem(email) === undefined && !sandboxEmailValid(email));
    expect(laxer).toEqual([]);
    // Not vacuous: both rules accept ordinary addresses.
    expect(acceptedBySandbox).toContain('a@example.com');
    expect(emailProblem('a@example.com')).toBeUndefined();
  });

  it('rejects punycode and digits in the last label when the domain ends in them', () => {
    for (const email of ['user@example.xn--p1ai', 'x@xn--p1ai.xn--p1ai', 'a@example.c0m', 'a@example.123'])
      expect(emailProblem(email), email).toBeDefined();
    expect(emailProblem('user@xn--bcher-kva.de')).toBeUndefined();
  });

  it('is the same rule in the ActiveCampaign adapter when checking before sending', () => {
    for (const email of TRICKY)
      expect(isAcceptableEmail(email), email).toBe(emailProblem(email) === undefined);
    for (const email of ['a@b..com', 'a\u0001b@example.com', 'a@.com'])
      expect(isAcceptableEmail(email), email).toBe(false);
  });
});
