import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { type RunningSandbox, startSandbox } from '../../../dev/sandbox/server';
import { type BulkImportContact, importContacts } from '../../../shared/adapters/activecampaign';
import { type RunningProxy, startResponseFaultProxy } from '../../helpers/responseFaultProxy';
import { clientFor } from './harness';

// The proxy lets the sandbox apply each bulk import and then loses (or delays) its answer: the case where
// ActiveCampaign HAS applied what the client cannot know about.
let sandbox: RunningSandbox;
beforeAll(async () => {
  sandbox = await startSandbox({ timeScale: 50, seed: 31 });
});
afterAll(() => sandbox.stop());
beforeEach(() => sandbox.state.reset());

let proxy: RunningProxy | undefined;
afterEach(async () => {
  await proxy?.stop();
  proxy = undefined;
});

const isBulkImport = (method: string, path: string) =>
  method === 'POST' && path.startsWith('/api/3/import/bulk_import');
const people = (n: number, tag: string): BulkImportContact[] =>
  Array.from({ length: n }, (_, i) => ({ email: `${tag}${i}@example.com`, subscribe: [{ listid: 1 }] }));
const bulkImportsReceived = () =>
  sandbox.state.log.filter((r) => r.path === '/api/3/import/bulk_import' && r.bulkCounted);
/** Applies every batch the sandbox has finished by now and returns how often each email was written. */
async function writesByEmail(): Promise<Map<string, number>> {
  await sandbox.clock.sleep(6_000); // long enough for every queued batch to finish processing
  const account = sandbox.state.account();
  account.advance(sandbox.clock.now());
  return new Map([...account.contacts.values()].map((c) => [c.email, c.writes]));
}

describe('importContacts when the answers of applied bulk imports are lost', () => {
  it('sends each request at most twice and reports every contact "outcome unknown" when every answer is dropped', async () => {
    proxy = await startResponseFaultProxy({ target: sandbox.url, only: isBulkImport, dropRate: 1 });
    const client = clientFor(sandbox, { host: proxy.hostForClient });
    const contacts = people(500, 'all-lost');

    const result = await importContacts(client, contacts, { clock: sandbox.clock });

    // Two requests of 250, each sent once and resent once: the bound.
    expect(bulkImportsReceived()).toHaveLength(4);
    expect(result.requests).toEqual({ bulkImports: 0, ambiguousResends: 2, outcomeUnknown: 2 });
    expect(client.stats).toMatchObject({ ambiguousBulkResubmissions: 2, outcomeUnknown: 2 });
    expect(result.outcomes).toHaveLength(500);
    for (const outcome of result.outcomes) {
      expect(outcome.status).toBe('unconfirmed');
      expect(outcome.reason).toMatch(/^outcome unknown: ActiveCampaign may have applied this contact/);
      expect(outcome.reason).not.toMatch(/not sent/);
    }
    // The reason is right: ActiveCampaign did apply them, twice each and never more.
    const writes = await writesByEmail();
    expect(contacts.map((c) => writes.get(c.email))).toEqual(contacts.map(() => 2));
  });

  it('resends once and marks the contacts "may have been applied twice" when the first answer is delayed past the timeout', async () => {
    proxy = await startResponseFaultProxy({
      target: sandbox.url,
      only: isBulkImport,
      script: (seq) => (seq === 1 ? { action: 'delay', realMs: 3_000 } : undefined),
    });
    // 10,000 sandbox ms at 50× is 200 real ms: the 3 s delay is a timeout; the resend's answer is not delayed.
    const client = clientFor(sandbox, { host: proxy.hostForClient, timeoutMs: 10_000 });
    const contacts = people(250, 'slow');

    const result = await importContacts(client, contacts, { clock: sandbox.clock });

    expect(client.stats.timeouts).toBe(1);
    expect(bulkImportsReceived()).toHaveLength(2);
    expect(result.requests).toEqual({ bulkImports: 1, ambiguousResends: 1, outcomeUnknown: 0 });
    expect(result.outcomes).toHaveLength(250);
    expect(result.outcomes.every((o) => o.status === 'confirmed' && o.mayHaveBeenAppliedTwice)).toBe(true);
    const writes = await writesByEmail();
    expect(Math.max(...writes.values())).toBe(2);
  });

  it('never applies a contact more than twice, counts every resend and loses nobody when 30% of answers are dropped (seeded)', async () => {
    proxy = await startResponseFaultProxy({
      target: sandbox.url,
      only: isBulkImport,
      dropRate: 0.3,
      seed: 7,
    });
    const client = clientFor(sandbox, { host: proxy.hostForClient });
    const contacts = people(2_500, 'some-lost');

    const result = await importContacts(client, contacts, { clock: sandbox.clock });

    const received = bulkImportsReceived().length;
    const dropped = proxy.log.filter((r) => r.fate === 'drop').length;
    expect(dropped).toBeGreaterThan(0);
    // Ten requests; every send beyond the first of a request followed a lost answer, and is counted.
    expect(result.requests.ambiguousResends).toBe(received - 10);
    expect(result.requests.ambiguousResends).toBeGreaterThan(0);
    expect(result.requests.bulkImports + result.requests.outcomeUnknown).toBe(10);
    // One outcome per contact: confirmed (flagged when its request was resent) or unconfirmed, outcome unknown.
    expect(new Set(result.outcomes.map((o) => o.email)).size).toBe(2_500);
    const flagged = result.outcomes.filter((o) => o.status === 'confirmed' && o.mayHaveBeenAppliedTwice);
    const unknown = result.outcomes.filter((o) => o.status === 'unconfirmed');
    // A resent request is either accepted (its contacts flagged) or given up (its contacts unknown).
    expect(flagged.length + unknown.length).toBe(250 * (received - 10));
    expect(unknown).toHaveLength(250 * result.requests.outcomeUnknown);
    expect(unknown.every((o) => o.reason?.startsWith('outcome unknown'))).toBe(true);
    expect(result.outcomes.filter((o) => o.status === 'rejected')).toEqual([]);
    const writes = await writesByEmail();
    expect(Math.max(...writes.values())).toBeLessThanOrEqual(2);
    // Every contact reached ActiveCampaign, the "unknown" ones included.
    expect(contacts.every((c) => (writes.get(c.email) ?? 0) >= 1)).toBe(true);
  });
});
