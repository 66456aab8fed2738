import { inspect } from 'node:util';

import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { type RunningSandbox, startSandbox } from '../../../dev/sandbox/server';
import {
  ActiveCampaignError,
  ActiveCampaignNotFoundError,
  AuthenticationError,
  DEFAULT_RATE_LIMITS,
  InProcessRateBudget,
  NetworkError,
  RateLimitedError,
  ServerError,
  TimeoutError,
  ValidationFailedError,
} from '../../../shared/adapters/activecampaign';
import { capturingLogger, clientFor } from './harness';

let sandbox: RunningSandbox;
beforeAll(async () => {
  sandbox = await startSandbox({ timeScale: 50, seed: 7 });
});
afterAll(() => sandbox.stop());
beforeEach(() => sandbox.state.reset());

const apiLog = () => sandbox.state.log;

describe('ActiveCampaignClient against the sandbox: errors', () => {
  it('returns the user when the key and host are right', async () => {
    await expect(clientFor(sandbox).verifyCredentials()).resolves.toMatchObject({ id: '1' });
  });

  it('throws AuthenticationError without retrying when the key is wrong (403)', async () => {
    const error = await clientFor(sandbox, { apiKey: 'wrong-key-123456' })
      .verifyCredentials()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AuthenticationError);
    expect((error as AuthenticationError).response?.status).toBe(403);
    expect((error as Error).message).toBe('ActiveCampaign rejected the API key (403): GET /api/3/users/me');
    expect(apiLog()).toHaveLength(1);
  });

  it('throws AuthenticationError when the account answers 401 instead of 403', async () => {
    const other = await startSandbox({ authFailureStatus: 401 });
    try {
      const error = await clientFor(other, { apiKey: 'nope-nope-nope' })
        .getList(1)
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(AuthenticationError);
      expect(other.state.log).toHaveLength(1);
    } finally {
      await other.stop();
    }
  });

  it('throws ActiveCampaignNotFoundError without retrying when the list does not exist', async () => {
    const error = await clientFor(sandbox)
      .getList(7)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ActiveCampaignNotFoundError);
    expect((error as Error).message).toContain('No Result found for _List with id 7');
    expect((error as Error).message).toContain('GET /api/3/lists/7');
    expect(apiLog()).toHaveLength(1);
  });

  it('throws ValidationFailedError carrying failureReasons when a contact fails validation; nothing is queued', async () => {
    const contacts = [{ email: 'ok@example.com' }, { email: 'broken@nowhere' }];
    const error = await clientFor(sandbox)
      .bulkImport({ contacts })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationFailedError);
    expect((error as ValidationFailedError).failureReasons).toEqual([
      { contact: 1, failureReason: "Field' email' incorrect format" },
    ]);
    expect(apiLog()).toHaveLength(1);
    expect(sandbox.state.account().batches.size).toBe(0);
  });

  it('refuses locally, sending nothing, when a request has more than 250 contacts or 400,000 bytes', async () => {
    const many = Array.from({ length: 251 }, (_, i) => ({ email: `c${i}@example.com` }));
    await expect(clientFor(sandbox).bulkImport({ contacts: many })).rejects.toBeInstanceOf(
      ValidationFailedError,
    );
    const big = Array.from({ length: 200 }, (_, i) => ({
      email: `c${i}@example.com`,
      first_name: 'x'.repeat(2100),
    }));
    await expect(clientFor(sandbox).bulkImport({ contacts: big })).rejects.toThrow(/under 400,000/);
    expect(apiLog()).toHaveLength(0);
  });

  it('answers 413 when a body of 400,000 bytes or more reaches the sandbox', async () => {
    const contacts = Array.from({ length: 200 }, (_, i) => ({
      email: `c${i}@example.com`,
      first_name: 'x'.repeat(2100),
    }));
    const response = await fetch(`${sandbox.url}/api/3/import/bulk_import`, {
      method: 'POST',
      headers: { 'Api-Token': sandbox.apiKey, 'Content-Type': 'application/json' },
      body: JSON.stringify({ contacts }),
    });
    expect(response.status).toBe(413);
  });

  it.each(['é', '漢'])(
    'answers 413 when a %s body is 400,000 bytes or more but fewer characters',
    async (char) => {
      const bytesPerChar = Buffer.byteLength(char);
      const perContact = Math.floor(3_900 / bytesPerChar);
      const contacts = Array.from({ length: 100 }, (_, i) => ({
        email: `c${i}@example.com`,
        first_name: char.repeat(perContact),
      }));
      // Grow the last name until the body just reaches 400,000 bytes.
      const base = JSON.stringify({ contacts });
      const missing = 400_000 - Buffer.byteLength(base);
      contacts[0]!.first_name += char.repeat(Math.ceil(missing / bytesPerChar));
      const body = JSON.stringify({ contacts });
      expect(Buffer.byteLength(body)).toBeGreaterThanOrEqual(400_000);
      expect(Buffer.byteLength(body)).toBeLessThan(400_000 + bytesPerChar);
      expect(body.length).toBeLessThan(400_000);
      // Sent raw: the client would refuse it locally before sending.
      const response = await fetch(`${sandbox.url}/api/3/import/bulk_import`, {
        method: 'POST',
        headers: { 'Api-Token': sandbox.apiKey, 'Content-Type': 'application/json' },
        body,
      });
      expect(response.status).toBe(413);
      // One character less is under the limit and queued.
      contacts[0]!.first_name = contacts[0]!.first_name.slice(0, -1);
      const under = await fetch(`${sandbox.url}/api/3/import/bulk_import`, {
        method: 'POST',
        headers: { 'Api-Token': sandbox.apiKey, 'Content-Type': 'application/json' },
        body: JSON.stringify({ contacts }),
      });
      expect(under.status).toBe(200);
    },
  );

  it('throws ServerError after maxAttempts when every attempt answers 503', async () => {
    sandbox.state.scripted.push(...Array.from({ length: 3 }, () => ({ type: 'unavailable' as const })));
    const error = await clientFor(sandbox, { retry: { maxAttempts: 3, baseDelayMs: 100 } })
      .verifyCredentials()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ServerError);
    expect((error as ServerError).retryable).toBe(true);
    expect((error as ServerError).request.attempt).toBe(3);
    expect(apiLog()).toHaveLength(3);
  });

  it('throws NetworkError after maxAttempts when every connection is reset', async () => {
    sandbox.state.scripted.push({ type: 'reset-before' }, { type: 'reset-before' });
    const error = await clientFor(sandbox, { retry: { maxAttempts: 2, baseDelayMs: 100 } })
      .verifyCredentials()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NetworkError);
    expect(apiLog().map((r) => r.outcome)).toEqual(['reset-before', 'reset-before']);
  });

  it('throws TimeoutError when no answer arrives within the timeout on every attempt', async () => {
    sandbox.state.scripted.push({ type: 'delay', ms: 5_000 }, { type: 'delay', ms: 5_000 });
    const error = await clientFor(sandbox, { timeoutMs: 1_000, retry: { maxAttempts: 2, baseDelayMs: 100 } })
      .verifyCredentials()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TimeoutError);
    expect((error as Error).message).toBe(
      'ActiveCampaign did not answer within 1000 ms: GET /api/3/users/me',
    );
  });

  it('throws RateLimitedError without waiting when Retry-After exceeds maxRetryAfterMs', async () => {
    sandbox.state.scripted.push({ type: 'throttle', retryAfterSeconds: 600 });
    const error = await clientFor(sandbox, { retry: { maxRetryAfterMs: 60_000 } })
      .verifyCredentials()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RateLimitedError);
    expect((error as RateLimitedError).response?.retryAfterMs).toBe(600_000);
    expect(apiLog()).toHaveLength(1);
  });

  it('makes another client sharing the budget hold off when one gives up on a Retry-After beyond maxRetryAfterMs', async () => {
    const budget = new InProcessRateBudget(sandbox.clock, DEFAULT_RATE_LIMITS);
    const impatient = clientFor(sandbox, { budget, retry: { maxRetryAfterMs: 60_000 } });
    const other = clientFor(sandbox, { budget });
    sandbox.state.scripted.push({ type: 'throttle', retryAfterSeconds: 90 });
    await expect(impatient.verifyCredentials()).rejects.toBeInstanceOf(RateLimitedError);

    await other.verifyCredentials();

    const [refused, next] = apiLog();
    expect(refused?.outcome).toBe('injected-429');
    expect(next?.outcome).toBe('ok');
    expect((next?.at ?? 0) - (refused?.at ?? 0)).toBeGreaterThanOrEqual(90_000);
  });

  it('never puts the API key in an error message, a log line or the sandbox request log', async () => {
    const logger = capturingLogger();
    const errors: unknown[] = [];
    const client = clientFor(sandbox, {
      logger,
      timeoutMs: 1_000,
      retry: { maxAttempts: 2, baseDelayMs: 50 },
    });
    const wrongKey = 'wrong-secret-key-987654';
    sandbox.state.scripted.push(
      { type: 'throttle', retryAfterSeconds: 1 },
      { type: 'unavailable' },
      { type: 'reset-before' },
      { type: 'reset-after' },
      { type: 'delay', ms: 5_000 },
      { type: 'server-error', status: 500 },
      { type: 'unavailable' },
      { type: 'unavailable' },
    );
    const calls = [
      () => client.verifyCredentials(),
      () => client.getList(1),
      () => client.getList(99),
      () => client.bulkImport({ contacts: [{ email: 'x@example.com' }, { email: 'bad' }] }),
      () => client.getImportInfo('nope'),
      () => client.verifyCredentials(),
      () => clientFor(sandbox, { apiKey: wrongKey, logger }).verifyCredentials(),
    ];
    for (const call of calls) await call().catch((e: unknown) => errors.push(e));
    expect(errors.length).toBeGreaterThanOrEqual(4);
    expect(errors.every((e) => e instanceof ActiveCampaignError)).toBe(true);
    expect(logger.lines.length).toBeGreaterThan(3);
    const everything = [
      ...logger.lines,
      ...errors.map((e) => `${String(e)} ${(e as Error).stack ?? ''} ${JSON.stringify(e)}`),
      // Everything an error holds, non-enumerable properties and causes included, at any depth.
      ...errors.map((e) => inspect(e, { showHidden: true, depth: null })),
      JSON.stringify(sandbox.state.log),
    ].join('\n');
    // Several kinds of error (auth, not found, validation, network/server...) were inspected, not just one.
    expect(new Set(errors.map((e) => (e as Error).constructor.name)).size).toBeGreaterThanOrEqual(4);
    expect(everything).not.toContain(sandbox.apiKey);
    expect(everything).not.toContain(wrongKey);
  });
});
