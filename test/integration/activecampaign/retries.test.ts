import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { type RunningSandbox, startSandbox } from '../../../dev/sandbox/server';
import { importContacts } from '../../../shared/adapters/activecampaign';
import { clientFor } from './harness';

let sandbox: RunningSandbox;
beforeAll(async () => {
  sandbox = await startSandbox({ timeScale: 50, seed: 11 });
});
afterAll(() => sandbox.stop());
beforeEach(() => {
  sandbox.state.reset();
  sandbox.state.faults = { ...sandbox.state.faults, retryAfterFormat: 'seconds' };
});

const log = () => sandbox.state.log;
const gap = (i: number) => log()[i + 1]!.at - log()[i]!.at;

describe('ActiveCampaignClient against the sandbox: retries', () => {
  it('waits at least Retry-After seconds when a 429 states them', async () => {
    sandbox.state.scripted.push({ type: 'throttle', retryAfterSeconds: 3 });
    await clientFor(sandbox).verifyCredentials();
    expect(log().map((r) => r.status)).toEqual([429, 200]);
    expect(gap(0)).toBeGreaterThanOrEqual(3000);
    expect(gap(0)).toBeLessThan(3000 + 15_000); // loose: real-time jitter is multiplied by the time scale
  });

  it('waits until the HTTP-date when Retry-After is a date', async () => {
    sandbox.state.faults = { ...sandbox.state.faults, retryAfterFormat: 'http-date' };
    sandbox.state.scripted.push({ type: 'throttle', retryAfterSeconds: 2 });
    await clientFor(sandbox).getList(1);
    expect(log().map((r) => r.status)).toEqual([429, 200]);
    expect(gap(0)).toBeGreaterThanOrEqual(2000);
  });

  it('retries with backoff when ActiveCampaign answers 503 and then 500', async () => {
    sandbox.state.scripted.push({ type: 'unavailable' }, { type: 'server-error', status: 500 });
    const client = clientFor(sandbox);
    await expect(client.verifyCredentials()).resolves.toMatchObject({ id: '1' });
    expect(log().map((r) => r.status)).toEqual([503, 500, 200]);
    expect(client.stats).toMatchObject({ serverErrors: 2, retries: 2 });
  });

  it('retries when the connection is reset before an answer', async () => {
    sandbox.state.scripted.push({ type: 'reset-before' });
    const client = clientFor(sandbox);
    await client.getList(1);
    expect(log().map((r) => r.outcome)).toEqual(['reset-before', 'ok']);
    expect(client.stats.networkErrors).toBe(1);
  });

  it('retries after a timeout when the first answer is too slow', async () => {
    sandbox.state.scripted.push({ type: 'delay', ms: 10_000 });
    const client = clientFor(sandbox, { timeoutMs: 2_000 });
    await client.verifyCredentials();
    expect(client.stats.timeouts).toBe(1);
    expect(log()).toHaveLength(2);
  });

  it('resubmits a bulk import whose answer was lost after it was queued, counts it, and reconciles each contact once', async () => {
    sandbox.state.scripted.push({ type: 'reset-after' });
    const client = clientFor(sandbox);
    const contacts = [{ email: 'a@example.com' }, { email: 'b@example.com' }].map((c) => ({
      ...c,
      subscribe: [{ listid: 1 }],
    }));
    const result = await importContacts(client, contacts, { clock: sandbox.clock });
    expect(client.stats.ambiguousBulkResubmissions).toBe(1);
    // ActiveCampaign queued both submissions; the upsert by email leaves one contact each.
    expect(sandbox.state.account().batches.size).toBe(2);
    expect(sandbox.state.account().contacts.size).toBe(2);
    expect(result.outcomes.map((o) => [o.email, o.status]).sort()).toEqual([
      ['a@example.com', 'confirmed'],
      ['b@example.com', 'confirmed'],
    ]);
  });

  it('waits for the minute window when bulk import answers 400 "Rate limit exceeded."', async () => {
    const strict = await startSandbox({ timeScale: 60, bulkImportsPerMinute: 2 });
    try {
      const client = clientFor(strict);
      const request = { contacts: [{ email: 'a@example.com' }, { email: 'b@example.com' }] };
      for (let i = 0; i < 3; i++) await client.bulkImport(request);
      const imports = strict.state.log.filter((r) => r.path === '/api/3/import/bulk_import');
      expect(imports.map((r) => r.status)).toEqual([200, 200, 400, 200]);
      expect(imports[2]!.outcome).toBe('bulk-throttled');
      expect(imports[3]!.at - imports[2]!.at).toBeGreaterThanOrEqual(60_000);
      expect(client.stats.bulkRateLimited).toBe(1);
    } finally {
      await strict.stop();
    }
  });

  it('paces single-contact imports at 20 per minute so the sandbox never refuses them', async () => {
    const client = clientFor(sandbox);
    for (let i = 0; i < 3; i++) await client.bulkImport({ contacts: [{ email: `solo${i}@example.com` }] });
    const times = log().map((r) => r.at);
    expect(log().every((r) => r.status === 200)).toBe(true);
    // Slots are 3,061 ms apart (20/min less the 2% margin); arrival jitter on a busy machine is far below that.
    expect(times[2]! - times[0]!).toBeGreaterThanOrEqual(2 * 3000 - 500);
  });
});
