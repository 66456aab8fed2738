import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { type RunningSandbox, startSandbox } from '../../../dev/sandbox/server';
import {
  ACTIVECAMPAIGN_SKIPPED_REASON,
  type BulkImportContact,
  importContacts,
  reconcileBatches,
} from '../../../shared/adapters/activecampaign';
import { bulkTimes, clientFor, maxInWindow, rpsTimes } from './harness';

const excluded = Array.from({ length: 50 }, (_, i) => `excluded${i}@example.com`);
const bounced = Array.from({ length: 50 }, (_, i) => `bounced${i}@example.com`);
const optedOut = Array.from({ length: 50 }, (_, i) => `optout${i}@example.com`);

let sandbox: RunningSandbox;
beforeAll(async () => {
  sandbox = await startSandbox({
    // 5x, not faster: the tests below count arrivals in a sandbox second, and at 20x a sandbox second is 50
    // real ms, where a few ms of event-loop jitter on a busy machine bunch requests the client spaced right.
    timeScale: 5,
    seed: 2024,
    accounts: [
      {
        name: 'acme',
        apiKeys: ['acme-key-5f2c9a7e1b'],
        lists: [{ id: 1, name: 'Newsletter' }],
        excludedEmails: excluded,
        bouncedEmails: bounced,
      },
    ],
  });
});
afterAll(() => sandbox.stop());

describe('importContacts against the sandbox', () => {
  it('confirms every valid contact exactly once and reports every invalid one with its reason when 5% of requests and batches fail', async () => {
    sandbox.state.reset(2024);
    for (const email of optedOut) sandbox.state.account().upsert(email).lists['1'] = 2;
    sandbox.state.faults = {
      ...sandbox.state.faults,
      rate429: 0.01,
      rate503: 0.01,
      resetBeforeRate: 0.01,
      resetAfterRate: 0.01,
      failedBatchRate: 0.03,
      interruptedBatchRate: 0.02,
      latencyMs: 20,
      latencyJitterMs: 80,
    };
    const invalid = Array.from({ length: 150 }, (_, i) =>
      i % 3 === 0 ? `broken${i}` : i % 3 === 1 ? `x${i}@nodot` : `a(${i})@example.com`,
    );
    const valid = Array.from({ length: 10_000 - 150 - 150 - 50 }, (_, i) => `person${i}@example.com`);
    const duplicates = valid.slice(0, 50).map((e) => e.toUpperCase());
    const emails = [...valid, ...excluded, ...bounced, ...optedOut, ...invalid, ...duplicates];
    expect(emails).toHaveLength(10_000);
    const contacts: BulkImportContact[] = emails.map((email, i) => ({
      email,
      first_name: `First${i}`,
      subscribe: [{ listid: 1 }],
    }));
    const client = clientFor(sandbox, { apiKey: 'acme-key-5f2c9a7e1b' });

    const result = await importContacts(client, contacts, { clock: sandbox.clock, maxResubmits: 4 });

    const byStatus = (status: string) => result.outcomes.filter((o) => o.status === status);
    expect(result.outcomes).toHaveLength(10_000);
    expect(byStatus('unconfirmed')).toEqual([]);
    const confirmed = byStatus('confirmed').map((o) => o.email);
    expect(confirmed).toHaveLength(valid.length);
    expect(new Set(confirmed)).toEqual(new Set(valid));
    const reasons = new Map(byStatus('rejected').map((o) => [o.email, o.reason]));
    for (const email of [...excluded, ...bounced, ...optedOut])
      expect(reasons.get(email)).toBe(ACTIVECAMPAIGN_SKIPPED_REASON);
    for (const email of invalid) expect(reasons.get(email)).toBe('invalid email format');
    for (const email of duplicates) expect(reasons.get(email)).toBe('duplicate email');

    // The faults really happened, and were survived within the budgets.
    expect(client.stats.retries).toBeGreaterThan(0);
    expect(result.resubmits).toBeGreaterThan(0);
    expect(sandbox.state.counters.resets).toBeGreaterThan(0);
    expect(maxInWindow(bulkTimes(sandbox.state.log), 60_000)).toBeLessThanOrEqual(100);
    // The client stayed inside the budget on its own: ≤ 5 arrivals in any second, and every 429 / bulk 400
    // the sandbox sent was an injected fault, none a refusal for going over the limit.
    expect(maxInWindow(rpsTimes(sandbox.state.log), 1_000)).toBeLessThanOrEqual(5);
    expect(
      sandbox.state.log.filter((r) => r.outcome === 'throttled' || r.outcome === 'bulk-throttled'),
    ).toEqual([]);
    // ActiveCampaign's store: every valid contact subscribed, every opt-out still unsubscribed.
    const account = sandbox.state.account();
    for (const email of valid) expect(account.contacts.get(email)?.lists['1']).toBe(1);
    for (const email of optedOut) expect(account.contacts.get(email)?.lists['1']).toBe(2);
    for (const email of [...excluded, ...bounced]) expect(account.contacts.has(email)).toBe(false);
  });

  it('never re-subscribes an opted-out contact when an export subscribes them through bulk import', async () => {
    sandbox.state.reset();
    sandbox.state.faults = {
      ...sandbox.state.faults,
      rate429: 0,
      rate503: 0,
      resetBeforeRate: 0,
      resetAfterRate: 0,
      failedBatchRate: 0,
      interruptedBatchRate: 0,
      latencyMs: 0,
      latencyJitterMs: 0,
    };
    const account = sandbox.state.account();
    account.upsert('left@example.com').lists['1'] = 2;
    const client = clientFor(sandbox, { apiKey: 'acme-key-5f2c9a7e1b' });

    const result = await importContacts(
      client,
      [
        { email: 'left@example.com', first_name: 'Changed', subscribe: [{ listid: 1 }] },
        { email: 'new@example.com', subscribe: [{ listid: 1 }] },
      ],
      { clock: sandbox.clock },
    );

    expect(result.outcomes).toContainEqual({
      email: 'left@example.com',
      status: 'rejected',
      reason: ACTIVECAMPAIGN_SKIPPED_REASON,
    });
    expect(account.contacts.get('left@example.com')?.lists['1']).toBe(2);
    expect(account.contacts.get('left@example.com')?.firstName).toBe('');
    expect(account.contacts.get('new@example.com')?.lists['1']).toBe(1);
    // The client never used the endpoints that would re-subscribe.
    expect(sandbox.state.log.some((r) => /contact\/sync|contactLists/.test(r.path))).toBe(false);
  });

  it('returns the outcome of every other batch when import/info answers 404 for one batch id', async () => {
    sandbox.state.reset();
    sandbox.state.faults = { ...sandbox.state.faults, rate429: 0, rate503: 0, resetBeforeRate: 0 };
    sandbox.state.faults = { ...sandbox.state.faults, resetAfterRate: 0, failedBatchRate: 0 };
    sandbox.state.faults = {
      ...sandbox.state.faults,
      interruptedBatchRate: 0,
      latencyMs: 0,
      latencyJitterMs: 0,
    };
    const client = clientFor(sandbox, { apiKey: 'acme-key-5f2c9a7e1b' });
    const known = { contacts: [{ email: 'known1@example.com' }, { email: 'known2@example.com' }] };
    const expired = { contacts: [{ email: 'expired1@example.com' }, { email: 'expired2@example.com' }] };
    const accepted = await client.bulkImport(known);

    const result = await reconcileBatches(
      client,
      [
        { batchId: accepted.batchId, request: known },
        { batchId: '00000000-0000-4000-8000-000000000000', request: expired },
      ],
      { clock: sandbox.clock },
    );

    expect(result.outcomes.filter((o) => o.status === 'confirmed').map((o) => o.email)).toEqual([
      'known1@example.com',
      'known2@example.com',
    ]);
    const lost = result.outcomes.filter((o) => o.email.startsWith('expired'));
    expect(lost.map((o) => o.status)).toEqual(['unconfirmed', 'unconfirmed']);
    expect(lost[0]?.reason).toMatch(/import\/info for batch .* failed: .*404/);
  });

  it('shows the contactLists quirk the client avoids: status 1 re-subscribes an opted-out contact', async () => {
    sandbox.state.reset();
    const contact = sandbox.state.account().upsert('quirk@example.com');
    contact.lists['1'] = 2;
    const response = await fetch(`${sandbox.url}/api/3/contactLists`, {
      method: 'POST',
      headers: { 'Api-Token': 'acme-key-5f2c9a7e1b', 'Content-Type': 'application/json' },
      body: JSON.stringify({ contactList: { list: 1, contact: Number(contact.id), status: 1 } }),
    });
    expect(response.status).toBe(200);
    expect(contact.lists['1']).toBe(1);
  });

  it('rejects new contacts beyond the account contact limit per contact', async () => {
    const capped = await startSandbox({
      timeScale: 20,
      accounts: [{ name: 'starter', apiKeys: ['starter-key-123456'], contactLimit: 3 }],
    });
    try {
      const client = clientFor(capped, { apiKey: 'starter-key-123456' });
      const contacts = Array.from({ length: 5 }, (_, i) => ({
        email: `c${i}@example.com`,
        subscribe: [{ listid: 1 }],
      }));
      const result = await importContacts(client, contacts, { clock: capped.clock });
      expect(result.outcomes.filter((o) => o.status === 'confirmed')).toHaveLength(3);
      expect(result.outcomes.filter((o) => o.status === 'rejected')).toHaveLength(2);
    } finally {
      await capped.stop();
    }
  });
});
