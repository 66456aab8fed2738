import { describe, expect, it } from 'vitest';

import { ConfigError } from '../../shared/errors';
import {
  emitExportRunFailed,
  EXPORT_RUN_FAILED_EVENT,
  exportRunFailedEventSchema,
  MAX_REASON_LENGTH,
  parseTelemetryEventLine,
  REDACTED,
  redactSecrets,
  redactValue,
  runLogger,
  TELEMETRY_EVENT_PREFIX,
  type TelemetryLogger,
} from '../../shared/telemetry';

const API_KEY = 'a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90abcd1234';

/** Records what reaches each level, as an `InvocationContext` would pass it to the host. */
function captureLogger(): TelemetryLogger & { lines: { level: string; args: unknown[] }[] } {
  const lines: { level: string; args: unknown[] }[] = [];
  const at =
    (level: string) =>
    (...args: unknown[]) =>
      lines.push({ level, args });
  return {
    lines,
    log: at('log'),
    error: at('error'),
    warn: at('warn'),
    info: at('info'),
    debug: at('debug'),
    trace: at('trace'),
  };
}

describe('redactSecrets', () => {
  it('removes values passed as secrets wherever they appear', () => {
    expect(redactSecrets('connect failed for key s3cr3t-value!', ['s3cr3t-value!'])).toBe(
      `connect failed for key ${REDACTED}`,
    );
  });

  it('removes API-key-looking values that were not passed as secrets', () => {
    const text = redactSecrets(`401 from https://acct.api-us1.com with ${API_KEY}`);
    expect(text).not.toContain(API_KEY);
    expect(text).toContain(REDACTED);
  });

  it('removes Api-Token headers, bearer tokens, account keys, SAS signatures and function keys', () => {
    const samples = [
      'Api-Token: abc123secret',
      'Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl',
      'DefaultEndpointsProtocol=https;AccountName=x;AccountKey=Zm9vYmFyYmF6cXV4==;EndpointSuffix=core.windows.net',
      'https://x.blob.core.windows.net/c/b?sv=2024-01-01&sig=AbCdEf%2B123&se=2030',
      'https://app.azurewebsites.net/runtime/webhooks/blobs?functionName=Host.Functions.segmentLanded&code=KeYvAlUe123==',
      'password=hunter2hunter2',
    ];
    const secrets = [
      'abc123secret',
      'c2lnbmF0dXJl',
      'Zm9vYmFyYmF6cXV4==',
      'AbCdEf%2B123',
      'KeYvAlUe123==',
      'hunter2hunter2',
    ];
    samples.forEach((sample, i) => {
      const redacted = redactSecrets(sample);
      expect(redacted, sample).not.toContain(secrets[i]);
      expect(redacted, sample).toContain(REDACTED);
    });
  });

  it('keeps ids, error codes and ordinary messages when nothing in them is secret', () => {
    const text =
      'exportId=exp-42 runId=3f2b9c1d0e8a4f6b9c7d5e3a1b0c9d8e failed: code: rate_limited after 6 attempts';
    expect(redactSecrets(text)).toBe(text);
  });
});

describe('redactValue', () => {
  it('blanks secret-named keys and redacts nested strings and errors', () => {
    const value = redactValue({
      apiKey: 'anything',
      nested: { message: `bad key ${API_KEY}`, list: ['fine', 'token=abcd1234'] },
      error: new Error(`failed with ${API_KEY}`),
      count: 3,
    });
    expect(value).toEqual({
      apiKey: REDACTED,
      nested: { message: `bad key ${REDACTED}`, list: ['fine', `token=${REDACTED}`] },
      error: `failed with ${REDACTED}`,
      count: 3,
    });
  });
});

describe('emitExportRunFailed', () => {
  it('logs one error line with the fixed prefix and the event fields when a run fails', () => {
    const logger = captureLogger();
    const failure = new ConfigError([{ field: 'KEY_VAULT_URL', message: 'is required' }]);
    const line = emitExportRunFailed(logger, {
      exportId: 'exp-1',
      runId: 'run-1',
      reason: failure.message,
      trigger: 'schedule',
      code: failure.code,
      failedAt: '2030-01-02T03:04:05.000Z',
    });
    expect(logger.lines).toEqual([{ level: 'error', args: [line] }]);
    expect(line.startsWith(TELEMETRY_EVENT_PREFIX)).toBe(true);
    expect(line).not.toContain('\n');
    expect(exportRunFailedEventSchema.parse(parseTelemetryEventLine(line))).toEqual({
      event: EXPORT_RUN_FAILED_EVENT,
      exportId: 'exp-1',
      runId: 'run-1',
      reason: 'Invalid configuration: KEY_VAULT_URL: is required',
      trigger: 'schedule',
      code: 'config_invalid',
      failedAt: '2030-01-02T03:04:05.000Z',
    });
  });

  it('redacts the API key and given secrets from the reason when the failure message carries them', () => {
    const logger = captureLogger();
    const line = emitExportRunFailed(
      logger,
      {
        exportId: 'exp-1',
        runId: 'run-1',
        reason: `ActiveCampaign said 403 for Api-Token: ${API_KEY} (account pass: opensesame42)`,
        trigger: 'manual',
        failedAt: '2030-01-02T03:04:05.000Z',
      },
      { secrets: ['opensesame42'] },
    );
    expect(line).not.toContain(API_KEY);
    expect(line).not.toContain('opensesame42');
    expect(parseTelemetryEventLine(line)?.reason).toContain(REDACTED);
  });

  it('cuts a very long reason to the maximum length', () => {
    const line = emitExportRunFailed(captureLogger(), {
      exportId: 'e',
      runId: 'r',
      reason: 'x'.repeat(MAX_REASON_LENGTH * 2),
      trigger: 'blob',
      failedAt: '2030-01-02T03:04:05.000Z',
    });
    expect((parseTelemetryEventLine(line)?.reason as string).length).toBe(MAX_REASON_LENGTH);
  });

  it('refuses an event without the ids that name the run', () => {
    expect(() =>
      emitExportRunFailed(captureLogger(), {
        exportId: '',
        runId: 'r',
        reason: 'x',
        trigger: 'blob',
        failedAt: '2030-01-02T03:04:05.000Z',
      }),
    ).toThrow(/exportId/);
  });
});

describe('parseTelemetryEventLine', () => {
  it('returns undefined for ordinary trace lines and malformed JSON', () => {
    expect(parseTelemetryEventLine('exportId=e runId=r pushing slice 3')).toBeUndefined();
    expect(parseTelemetryEventLine(`${TELEMETRY_EVENT_PREFIX}{not json`)).toBeUndefined();
    expect(parseTelemetryEventLine(`${TELEMETRY_EVENT_PREFIX}[1,2]`)).toBeUndefined();
  });
});

describe('runLogger', () => {
  it('tags every line with exportId and runId and redacts its arguments', () => {
    const logger = captureLogger();
    const run = runLogger(logger, { exportId: 'exp-9', runId: 'run-9' }, { secrets: ['topsecret'] });
    run.info('slice 3 sent', { batchId: 12, apiKey: 'topsecret' });
    run.warn(`retrying with ${API_KEY}`);
    run.error(new Error('boom topsecret'));
    expect(logger.lines).toEqual([
      { level: 'info', args: ['exportId=exp-9 runId=run-9 slice 3 sent', { batchId: 12, apiKey: REDACTED }] },
      { level: 'warn', args: [`exportId=exp-9 runId=run-9 retrying with ${REDACTED}`] },
      { level: 'error', args: [`exportId=exp-9 runId=run-9 boom ${REDACTED}`] },
    ]);
  });

  it('tags with the export alone before a run id exists', () => {
    const logger = captureLogger();
    runLogger(logger, { exportId: 'exp-9' }).log('saved');
    expect(logger.lines).toEqual([{ level: 'log', args: ['exportId=exp-9 saved'] }]);
  });
});
