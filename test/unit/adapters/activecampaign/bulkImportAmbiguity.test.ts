import { describe, expect, it } from 'vitest';

import {
  ActiveCampaignClient,
  type Clock,
  importContacts,
  mayHaveBeenApplied,
  OutcomeUnknownError,
  type RateBudget,
  ServerError,
} from '../../../../shared/adapters/activecampaign';

const API_KEY = 'unit-key-0123456789';
const TIMEOUT_MS = 30_000;
const request = { contacts: [{ email: 'a@example.com' }, { email: 'b@example.com' }] };
const accepted = () =>
  new Response(JSON.stringify({ success: 1, queued_contacts: 2, batchId: 'batch-1' }), { status: 200 });
/** What undici throws when the socket closes after the request went out: the answer was lost. */
const lost = () =>
  new TypeError('fetch failed', {
    cause: Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }),
  });
/** What undici throws when nothing could connect: the request never left. */
const refused = () =>
  new TypeError('fetch failed', {
    cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }),
  });

/** A client whose fetch plays `script` in order (a Response, or an error to throw). */
function scripted(script: (() => Response | Error)[], retry = {}) {
  const lines: string[] = [];
  let sent = 0;
  // Backoff sleeps end at once; the per-attempt timeout (the one long sleep) never fires, only aborts.
  const clock: Clock = {
    now: () => 1_000_000,
    sleep: (ms, signal) =>
      ms < TIMEOUT_MS
        ? Promise.resolve()
        : new Promise((_, reject) => signal?.addEventListener('abort', () => reject(new Error('aborted')))),
  };
  const budget: RateBudget = { acquire: () => Promise.resolve(), pause: () => Promise.resolve() };
  const client = new ActiveCampaignClient({
    host: 'acme.api-us1.com',
    apiKey: API_KEY,
    hostRule: { allowedSuffixes: ['.api-us1.com'], allowLoopbackHttp: false },
    clock,
    budget,
    random: () => 0.5,
    timeoutMs: TIMEOUT_MS,
    retry,
    logger: { info: () => {}, warn: (line: string) => lines.push(line), error: () => {} },
    fetch: () => {
      const next = script[sent++];
      if (!next) throw new Error('fetch called more often than scripted');
      const value = next();
      return value instanceof Error ? Promise.reject(value) : Promise.resolve(value);
    },
  });
  return { client, lines, sent: () => sent };
}

describe('ActiveCampaignClient.bulkImport with lost responses', () => {
  it('resends once and reports ambiguousResends 1 when the first response is lost', async () => {
    const { client, sent } = scripted([lost, accepted]);
    await expect(client.bulkImport(request)).resolves.toMatchObject({
      batchId: 'batch-1',
      ambiguousResends: 1,
    });
    expect(sent()).toBe(2);
    expect(client.stats.ambiguousBulkResubmissions).toBe(1);
  });

  it('reports ambiguousResends 0 when the first send is answered', async () => {
    const { client } = scripted([accepted]);
    await expect(client.bulkImport(request)).resolves.toMatchObject({ ambiguousResends: 0 });
  });

  it('stops after one resend and throws OutcomeUnknownError when every response is lost', async () => {
    const { client, sent } = scripted([lost, lost, lost, lost, lost, lost]);
    const error = await client.bulkImport(request).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OutcomeUnknownError);
    const unknown = error as OutcomeUnknownError;
    expect(unknown.code).toBe('activecampaign_outcome_unknown');
    expect(unknown.retryable).toBe(false);
    expect(unknown.lostResponses).toBe(2);
    expect(unknown.ambiguousResends).toBe(1);
    expect(unknown.message).toContain('may have applied');
    expect(unknown.message).not.toContain(API_KEY);
    expect(mayHaveBeenApplied(unknown)).toBe(true);
    expect(sent()).toBe(2);
    expect(client.stats).toMatchObject({ ambiguousBulkResubmissions: 1, outcomeUnknown: 1 });
  });

  it('sends only once when maxAmbiguousResends is 0 and the response is lost', async () => {
    const { client, sent } = scripted([lost, accepted], { maxAmbiguousResends: 0 });
    const error = await client.bulkImport(request).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OutcomeUnknownError);
    expect((error as OutcomeUnknownError).ambiguousResends).toBe(0);
    expect(sent()).toBe(1);
  });

  it('throws OutcomeUnknownError, not the last server error, when retries run out after a lost response', async () => {
    const unavailable = () => new Response('<html>503</html>', { status: 503 });
    const { client, sent } = scripted([lost, unavailable, unavailable], { maxAttempts: 3 });
    const error = await client.bulkImport(request).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OutcomeUnknownError);
    expect((error as OutcomeUnknownError).cause).toBeInstanceOf(ServerError);
    // Only the lost send may have been applied: once at most.
    expect((error as OutcomeUnknownError).ambiguousResends).toBe(0);
    expect(sent()).toBe(3);
  });

  it('does not count a refused connection as a lost response when nothing was sent', async () => {
    const { client, sent } = scripted([refused, refused, accepted]);
    await expect(client.bulkImport(request)).resolves.toMatchObject({ ambiguousResends: 0 });
    expect(sent()).toBe(3);
    expect(client.stats.ambiguousBulkResubmissions).toBe(0);
  });

  it('names ActiveCampaign once per retry log line when a server error is retried', async () => {
    const unavailable = () => new Response('<html>503</html>', { status: 503 });
    const { client, lines } = scripted([unavailable, accepted]);
    await client.bulkImport(request);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^ActiveCampaign server error \(503\): POST \/api\/3\/import\/bulk_import/);
    expect(lines[0]).not.toContain('ActiveCampaign ActiveCampaign');
  });

  it('retries a lost GET without limit of ambiguity when the call changes nothing', async () => {
    const me = () => new Response(JSON.stringify({ user: { id: 1 } }), { status: 200 });
    const { client, sent } = scripted([lost, lost, lost, me]);
    await expect(client.verifyCredentials()).resolves.toMatchObject({ id: '1' });
    expect(sent()).toBe(4);
    expect(client.stats.outcomeUnknown).toBe(0);
  });
});

describe('importContacts when a bulk import outcome is unknown', () => {
  it('reports the contacts unconfirmed with an "outcome unknown" reason, not "not sent", when every response is lost', async () => {
    const { client } = scripted([lost, lost]);
    const clock: Clock = { now: () => 0, sleep: () => Promise.resolve() };
    const result = await importContacts(client, request.contacts, { clock });
    expect(result.outcomes).toHaveLength(2);
    for (const outcome of result.outcomes) {
      expect(outcome.status).toBe('unconfirmed');
      expect(outcome.reason).toMatch(/^outcome unknown: ActiveCampaign may have applied/);
      expect(outcome.reason).not.toContain('not sent');
    }
  });
});
