import { describe, expect, it } from 'vitest';

import {
  bulkImportRequestsOf,
  isAcceptableEmail,
  toBulkImportRequests,
} from '../../../../shared/adapters/activecampaign/batches';
import {
  ACTIVECAMPAIGN_SKIPPED_REASON,
  describeFailureReasons,
  toBatchOutcome,
} from '../../../../shared/adapters/activecampaign/reconcile';

describe('toBatchOutcome', () => {
  const submitted = ['a@example.com', 'B@example.com', 'c@example.com'];

  it('is pending when ActiveCampaign answers status false (polled too early)', () => {
    expect(toBatchOutcome({ status: false }, submitted)).toEqual({ state: 'pending', status: 'not_ready' });
  });

  it('is pending while the batch is waiting, claimed or active', () => {
    for (const status of ['waiting', 'claimed', 'active'] as const) {
      expect(toBatchOutcome({ status }, submitted)).toEqual({ state: 'pending', status });
    }
  });

  it('is pending with the reported value when the status is undocumented', () => {
    expect(toBatchOutcome({ status: 'exploded' }, submitted)).toEqual({
      state: 'pending',
      status: 'unknown',
      reported: 'exploded',
    });
  });

  it('asks for a resubmission when the batch failed or was interrupted', () => {
    expect(toBatchOutcome({ status: 'failed' }, submitted)).toEqual({ state: 'resubmit', status: 'failed' });
    expect(toBatchOutcome({ status: 'interrupted' }, submitted)).toEqual({
      state: 'resubmit',
      status: 'interrupted',
    });
  });

  it('confirms submitted minus failed, matching emails case-insensitively, when completed', () => {
    const outcome = toBatchOutcome(
      { status: 'completed', success: ['1', '3'], failure: ['b@EXAMPLE.com'] },
      submitted,
    );
    expect(outcome).toEqual({
      state: 'completed',
      confirmed: ['a@example.com', 'c@example.com'],
      failed: [{ email: 'B@example.com', reason: ACTIVECAMPAIGN_SKIPPED_REASON }],
      contactIds: ['1', '3'],
    });
  });
});

describe('toBatchOutcome cross-check', () => {
  const submitted = ['a@example.com', 'b@example.com', 'c@example.com'];

  it('is inconsistent, not completed, when success + failure do not add up to the contacts submitted', () => {
    const outcome = toBatchOutcome({ status: 'completed', success: ['1'], failure: [] }, submitted);
    expect(outcome).toEqual({
      state: 'inconsistent',
      reason: expect.stringContaining('counts disagree') as string,
    });
    expect(
      toBatchOutcome({ status: 'completed', success: ['1', '2', '3', '4'], failure: [] }, submitted).state,
    ).toBe('inconsistent');
  });

  it('completes when the counts agree, as on a normal completion', () => {
    expect(
      toBatchOutcome({ status: 'completed', success: ['1', '2'], failure: ['c@example.com'] }, submitted)
        .state,
    ).toBe('completed');
  });

  it('completes when a list is absent (nothing to cross-check)', () => {
    expect(toBatchOutcome({ status: 'completed', failure: [] }, submitted).state).toBe('completed');
  });
});

describe('describeFailureReasons', () => {
  it('joins string and per-contact reasons into one line', () => {
    expect(describeFailureReasons(['limit', { contact: 2, failureReason: 'bad email' }])).toBe(
      'limit; contact 2: bad email',
    );
  });
});

describe('isAcceptableEmail', () => {
  it('accepts ordinary addresses', () => {
    for (const email of ['a@b.co', 'first.last+tag@sub.example.com', 'x@example.museum']) {
      expect(isAcceptableEmail(email)).toBe(true);
    }
  });

  it('rejects what ActiveCampaign rejects', () => {
    for (const email of [
      '@b.co',
      'a@b',
      'a@b.c',
      'a@b.c1',
      'a"b@c.com',
      'a(b@c.com',
      'a,b@c.com',
      'a:b@c.com',
      'a;b@c.com',
      'a<b@c.com',
      'a@b@c.com',
      'a[b@c.com',
      'a\\b@c.com',
      'a b@c.com',
      '',
    ]) {
      expect(isAcceptableEmail(email), email).toBe(false);
    }
  });
});

describe('toBulkImportRequests', () => {
  it('cuts at 250 contacts per request when contacts are small', () => {
    const contacts = Array.from({ length: 501 }, (_, i) => ({ email: `c${i}@example.com` }));
    expect(toBulkImportRequests(contacts).map((r) => r.contacts.length)).toEqual([250, 250, 1]);
  });

  it('cuts before 400,000 bytes when contacts are large', () => {
    const big = 'x'.repeat(3000);
    const contacts = Array.from({ length: 250 }, (_, i) => ({ email: `c${i}@example.com`, first_name: big }));
    const requests = toBulkImportRequests(contacts);
    expect(requests.length).toBeGreaterThan(1);
    for (const request of requests) expect(Buffer.byteLength(JSON.stringify(request))).toBeLessThan(400_000);
    expect(requests.flatMap((r) => r.contacts)).toHaveLength(250);
  });

  it('still throws RangeError when one contact alone is too large for a request', () => {
    expect(() => toBulkImportRequests([{ email: 'a@b.co', first_name: 'x'.repeat(400_000) }])).toThrow(
      RangeError,
    );
  });

  it('sets exclude_automations by default', () => {
    expect(toBulkImportRequests([{ email: 'a@b.co' }])[0]?.exclude_automations).toBe(true);
  });
});

describe('bulkImportRequestsOf', () => {
  it('builds each request only when asked for it when the input is read lazily', () => {
    let read = 0;
    function* contacts() {
      for (let i = 0; i < 600; i++) {
        read++;
        yield { email: `c${i}@example.com` };
      }
    }
    const requests = bulkImportRequestsOf(contacts());
    expect(read).toBe(0);
    expect(requests.next().value?.contacts).toHaveLength(250);
    expect(read).toBe(251);
    expect([...requests].map((r) => r.contacts.length)).toEqual([250, 100]);
  });

  it('hands a contact too large for any request to tooLarge and skips it when tooLarge is given', () => {
    const tooLarge: [string, number][] = [];
    const big = { email: 'big@example.com', first_name: 'x'.repeat(400_000) };
    const requests = [
      ...bulkImportRequestsOf([{ email: 'a@b.co' }, big, { email: 'c@d.co' }], {}, (c, bytes) =>
        tooLarge.push([c.email, bytes]),
      ),
    ];
    expect(requests.map((r) => r.contacts.map((c) => c.email))).toEqual([['a@b.co', 'c@d.co']]);
    expect(tooLarge).toEqual([['big@example.com', Buffer.byteLength(JSON.stringify(big))]]);
  });
});
