import { afterAll, beforeAll, describe, expect, it } from 'vitest';

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

describe('export run through the local host', () => {
  let stack: AppStack;

  beforeAll(async () => {
    stack = await startAppStack({ sandbox: { timeScale: 20 } });
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('exports a plain segment into the list, then sends only the changed contacts on the next run', async () => {
    await putSegmentFile(stack.segments, 'people/part-1.csv', peopleCsv(2_000));
    const { definition } = await seedExport(stack);
    const first = await startRun(stack, definition.id);
    expect(first.outcome).toBe('started');
    const run = await waitForRun(stack, definition.id, first.runId);
    const report = await reportOf(stack, definition.id, first.runId);
    expect(run.status).toBe('succeeded');
    expect(report.counts).toMatchObject({
      rows: 2_000,
      valid: 2_000,
      sent: 2_000,
      confirmed: 2_000,
      failed: 0,
    });
    expect(report.requests.bulkImport).toBe(8);
    let contacts = sandboxContacts(stack);
    expect(contacts.size).toBe(2_000);
    expect([...contacts.values()].every((c) => c.lists['1'] === 1 && c.writes === 1)).toBe(true);
    expect(contacts.get('p7@example.com')).toMatchObject({ firstName: 'First7', lastName: 'Last7' });

    // 1% changed (every 100th person's first name): exactly those are sent.
    await putSegmentFile(
      stack.segments,
      'people/part-1.csv',
      peopleCsv(2_000, { changed: (i) => i % 100 === 0 }),
    );
    const mark = logMark(stack);
    const second = await startRun(stack, definition.id);
    expect((await waitForRun(stack, definition.id, second.runId)).status).toBe('succeeded');
    expect(bulkContactsSent(stack, mark)).toBe(20);
    const again = await reportOf(stack, definition.id, second.runId);
    expect(again.counts).toMatchObject({
      rows: 2_000,
      valid: 2_000,
      unchanged: 1_980,
      sent: 20,
      confirmed: 20,
    });
    contacts = sandboxContacts(stack);
    expect(contacts.get('p100@example.com')).toMatchObject({ firstName: 'First100x', writes: 2 });
    expect(contacts.get('p101@example.com')).toMatchObject({ firstName: 'First101', writes: 1 });
  });

  it('carries custom fields and tags, and reports rejected rows with reasons', async () => {
    const csv =
      'Email,First,Plan,Tags\r\n' +
      'ann@example.com,Ann,gold,vip;new\r\n' +
      'ANN@example.com,Ann again,silver,\r\n' +
      'not-an-email,Bob,gold,\r\n' +
      ',NoEmail,gold,\r\n' +
      'cy@example.com,Cy,,\r\n';
    await putSegmentFile(stack.segments, 'tagged/part-1.csv', csv);
    const { definition } = await seedExport(stack, {
      segments: ['tagged'],
      mapping: {
        email: 'Email',
        firstName: 'First',
        fields: [{ column: 'Plan', fieldId: 7 }],
        tags: { fixed: ['from-export'], column: 'Tags', separator: ';' },
      },
    });
    const { runId } = await startRun(stack, definition.id);
    expect((await waitForRun(stack, definition.id, runId)).status).toBe('succeededWithRejections');
    const report = await reportOf(stack, definition.id, runId);
    expect(report.counts).toMatchObject({
      rows: 5,
      valid: 2,
      rejected: 2,
      duplicates: 1,
      sent: 2,
      confirmed: 2,
    });
    expect(report.counts.rows).toBe(report.counts.valid + report.counts.rejected + report.counts.duplicates);
    const contacts = sandboxContacts(stack);
    expect(contacts.get('ann@example.com')).toMatchObject({ firstName: 'Ann', fields: { '7': 'gold' } });
    expect([...(contacts.get('ann@example.com')?.tags ?? [])].sort()).toEqual(['from-export', 'new', 'vip']);
    expect(contacts.get('cy@example.com')?.tags).toEqual(['from-export']);

    const rejected = await fetch(`${stack.api}/exports/${definition.id}/runs/${runId}/rejected`);
    expect(rejected.status).toBe(200);
    expect(rejected.headers.get('content-type')).toMatch(/^text\/csv/);
    const lines = (await rejected.text()).trim().split(/\r?\n/);
    expect(lines[0]).toBe('file,line,email,reason,detail');
    expect(
      lines
        .slice(1)
        .map((l) => l.split(',')[3])
        .sort(),
    ).toEqual(['duplicate', 'invalid_email', 'missing_email']);
  });

  it('sends nothing on a dry run, and its plan is what the real run then does', async () => {
    await putSegmentFile(stack.segments, 'dry/part-1.csv', peopleCsv(300, { from: 10_000 }));
    const { definition } = await seedExport(stack, { segments: ['dry'] });
    const mark = logMark(stack);
    const dry = await startRun(stack, definition.id, '?dryRun=true');
    expect((await waitForRun(stack, definition.id, dry.runId)).status).toBe('succeeded');
    expect(bulkContactsSent(stack, mark)).toBe(0);
    const plan = (await reportOf(stack, definition.id, dry.runId)).plan;
    expect(plan).toMatchObject({ adds: 300, updates: 0, unchanged: 0, unsubscribes: 0, rejects: 0 });

    const real = await startRun(stack, definition.id);
    expect((await waitForRun(stack, definition.id, real.runId)).status).toBe('succeeded');
    const report = await reportOf(stack, definition.id, real.runId);
    expect(report.plan).toEqual(plan);
    expect(report.counts.confirmed).toBe(plan.adds + plan.updates);
    expect(bulkContactsSent(stack, mark)).toBe(300);
  });

  it('lists runs newest first and answers JSON errors for unknown runs', async () => {
    await putSegmentFile(stack.segments, 'listed/part-1.csv', peopleCsv(10, { from: 20_000 }));
    const { definition } = await seedExport(stack, { segments: ['listed'] });
    const a = await startRun(stack, definition.id);
    await waitForRun(stack, definition.id, a.runId);
    const b = await startRun(stack, definition.id);
    await waitForRun(stack, definition.id, b.runId);
    const list = (await (await fetch(`${stack.api}/exports/${definition.id}/runs`)).json()) as {
      items: { runId: string; status: string; trigger: string }[];
    };
    expect(list.items.map((r) => r.runId)).toEqual([b.runId, a.runId]);
    expect(list.items[0]).toMatchObject({ status: 'succeeded', trigger: 'http' });
    const missing = await fetch(`${stack.api}/exports/${definition.id}/runs/r000000000000000`);
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { error: { code: string } }).error.code).toBe('not_found');
  });
});
