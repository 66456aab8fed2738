import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  EXPORT_RUN_FAILED_EVENT,
  parseTelemetryEventLine,
  TELEMETRY_EVENT_PREFIX,
} from '../../../shared/telemetry';
import { type AppStack, startAppStack } from './appStack';
import {
  bulkContactsSent,
  logMark,
  peopleCsv,
  putSegmentFile,
  reportOf,
  sandboxContacts,
  seedExport,
  startRun,
  waitForRun,
} from './seed';

describe('export run guards and mirror mode', () => {
  let stack: AppStack;

  beforeAll(async () => {
    stack = await startAppStack({ sandbox: { timeScale: 20 }, env: { EXPORT_PROFILE_CAP: '500' } });
  });

  afterAll(async () => {
    await stack?.stop();
  });

  async function refusedRun(segment: string, files: Record<string, string>, query = '') {
    for (const [name, csv] of Object.entries(files)) await putSegmentFile(stack.segments, name, csv);
    const { definition } = await seedExport(stack, { segments: [segment] });
    const mark = logMark(stack);
    const { runId } = await startRun(stack, definition.id, query);
    const run = await waitForRun(stack, definition.id, runId);
    const report = await reportOf(stack, definition.id, runId);
    expect(run.status).toBe('failed');
    expect(bulkContactsSent(stack, mark)).toBe(0);
    // The one structured event a failed run emits, which the deployment's alert rule matches.
    const events = stack.host
      .output()
      .split('\n')
      .filter((line) => line.includes(TELEMETRY_EVENT_PREFIX))
      .map((line) => parseTelemetryEventLine(line.slice(line.indexOf(TELEMETRY_EVENT_PREFIX))))
      .filter((event) => event?.runId === runId);
    expect(events).toEqual([
      expect.objectContaining({
        event: EXPORT_RUN_FAILED_EVENT,
        exportId: definition.id,
        runId,
        code: report.code,
        trigger: 'http',
      }),
    ]);
    return report;
  }

  it('fails before sending anything when the segment snapshot has only a header row, naming segment and file', async () => {
    const report = await refusedRun('empty', { 'empty/part-1.csv': 'Email,FirstName,LastName\r\n' });
    expect(report.code).toBe('guard_empty_snapshot');
    expect(report.reason).toMatch(/"empty" \(empty\/part-1\.csv\)/);
  });

  it('fails before sending anything when too many rows are rejected, with the top reasons', async () => {
    const rows = [
      'Email,FirstName,LastName',
      ...Array.from({ length: 30 }, (_, i) => `not-an-email-${i},A,B`),
    ];
    rows.push('ok@example.com,A,B');
    const report = await refusedRun('junk', { 'junk/part-1.csv': `${rows.join('\r\n')}\r\n` });
    expect(report.code).toBe('guard_rejected_share');
    expect(report.reason).toMatch(
      /30 of 31 rows .* EXPORT_MAX_REJECTED_SHARE .*invalid_email 30.*junk\/part-1\.csv/,
    );
  });

  it('fails before sending anything when the profile count is over EXPORT_PROFILE_CAP', async () => {
    const report = await refusedRun('big', { 'big/part-1.csv': peopleCsv(501, { from: 50_000 }) });
    expect(report.code).toBe('limit_exceeded');
    expect(report.reason).toMatch(/EXPORT_PROFILE_CAP/);
  });

  it('fails before sending anything when model.json lists no partitions', async () => {
    const model = JSON.stringify({
      name: 'x',
      entities: [{ name: 'Ci', attributes: [{ name: 'Email' }], partitions: [] }],
    });
    const report = await refusedRun('Ci', {
      'CustomerInsights_t/Exp/Ci/2024/05/01/0100/Ci_1.csv': 'a@example.com\r\n',
      'CustomerInsights_t/Exp/model.json': model,
    });
    expect(report.code).toBe('input_file_invalid');
    expect(report.reason).toMatch(
      /CustomerInsights_t\/Exp\/model\.json: lists no partitions for segment "Ci"/,
    );
  });

  it('unsubscribes only the leavers in mirror mode, never re-subscribes an opt-out, and asks to confirm a mass departure', async () => {
    await putSegmentFile(stack.segments, 'mirror/part-1.csv', peopleCsv(100, { from: 60_000 }));
    const { definition } = await seedExport(stack, { segments: ['mirror'], membership: 'mirror' });
    const first = await startRun(stack, definition.id);
    expect((await waitForRun(stack, definition.id, first.runId)).status).toBe('succeeded');
    // p60000 opts out of the list in ActiveCampaign; its profile changes, so it is sent again.
    stack.sandbox.state.account(undefined).upsert('p60000@example.com').lists['1'] = 2;

    // 5 leave (p60095..p60099): 5% of 100, under the 10% share.
    await putSegmentFile(
      stack.segments,
      'mirror/part-1.csv',
      peopleCsv(95, { from: 60_000, changed: (i) => i === 60_000 }),
    );
    const second = await startRun(stack, definition.id);
    expect((await waitForRun(stack, definition.id, second.runId)).status).toBe('succeededWithRejections');
    const report = await reportOf(stack, definition.id, second.runId);
    expect(report.counts).toMatchObject({ sent: 1, unsubscribed: 5, failed: 1 });
    expect(report.failedContacts.map((f) => f.email)).toEqual(['p60000@example.com']);
    let contacts = sandboxContacts(stack);
    for (let i = 60_095; i < 60_100; i++) expect(contacts.get(`p${i}@example.com`)?.lists['1']).toBe(2);
    expect(contacts.get('p60000@example.com')?.lists['1']).toBe(2);
    expect(contacts.get('p60001@example.com')?.lists['1']).toBe(1);
    expect(contacts.size).toBe(100);

    // A truncated upload: 50 of the remaining 95 would leave. Refused until confirmed with the exact count.
    await putSegmentFile(
      stack.segments,
      'mirror/part-1.csv',
      peopleCsv(45, { from: 60_000, changed: (i) => i === 60_000 }),
    );
    const mark = logMark(stack);
    const refused = await startRun(stack, definition.id);
    expect((await waitForRun(stack, definition.id, refused.runId)).status).toBe('failed');
    const refusal = await reportOf(stack, definition.id, refused.runId);
    expect(refusal.code).toBe('guard_unsubscribe_confirmation');
    expect(refusal.reason).toMatch(/confirmUnsubscribes=50/);
    expect(bulkContactsSent(stack, mark)).toBe(0);

    const confirmed = await startRun(stack, definition.id, '?confirmUnsubscribes=50');
    expect((await waitForRun(stack, definition.id, confirmed.runId)).status).not.toBe('failed');
    contacts = sandboxContacts(stack);
    expect([...contacts.values()].filter((c) => c.lists['1'] === 2)).toHaveLength(56);
    expect(contacts.size).toBe(100);
  });
});
