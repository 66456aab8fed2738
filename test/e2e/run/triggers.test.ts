import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { writeCustomerInsightsSegment } from '../../helpers/segmentFixtures';
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

interface RunItem {
  runId: string;
  status: string;
  trigger: string;
}

describe('export run triggers, follow-ups and cancel', () => {
  let stack: AppStack;

  beforeAll(async () => {
    // Real ActiveCampaign pace (100 bulk imports a minute) so a run lasts long enough to be interrupted.
    stack = await startAppStack({ sandbox: { timeScale: 1 } });
  });

  afterAll(async () => {
    await stack?.stop();
  });

  async function runsOf(exportId: string): Promise<RunItem[]> {
    const res = await fetch(`${stack.api}/exports/${exportId}/runs`);
    return ((await res.json()) as { items: RunItem[] }).items;
  }

  async function waitForRuns(exportId: string, count: number): Promise<RunItem[]> {
    const deadline = Date.now() + 45_000;
    for (;;) {
      const runs = await runsOf(exportId);
      if (runs.length >= count && runs.every((r) => r.status !== 'running')) return runs;
      if (Date.now() > deadline)
        throw new Error(`runs of ${exportId}: ${JSON.stringify(runs)}\n${stack.host.output().slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  it('runs every export whose schedule is refresh when the timer fires, and none that is off', async () => {
    await putSegmentFile(stack.segments, 'timed/part-1.csv', peopleCsv(20, { from: 70_000 }));
    const on = await seedExport(stack, { segments: ['timed'], schedule: 'refresh' });
    const off = await seedExport(stack, { segments: ['timed'], schedule: 'off' });
    const fired = await fetch(`${stack.host.url}/admin/functions/scheduledRefresh`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(fired.status).toBeLessThan(300);
    const runs = await waitForRuns(on.definition.id, 1);
    expect(runs).toMatchObject([{ trigger: 'schedule', status: 'succeeded' }]);
    expect(await runsOf(off.definition.id)).toEqual([]);
    expect(sandboxContacts(stack).get('p70000@example.com')?.lists['1']).toBe(1);
    // Later tests must not see this export run again by run-all or the blob trigger.
    await fetch(`${stack.api}/exports/${on.definition.id}`, { method: 'DELETE' });
  });

  it('runs the exports of a segment once per landed Customer Insights snapshot, not once per file', async () => {
    const { definition } = await seedExport(stack, {
      segments: ['Landed'],
      mapping: { email: 'Email', firstName: 'FirstName', fields: [], tags: { fixed: [], separator: ',' } },
    });
    const written = await writeCustomerInsightsSegment(stack.segments, {
      instance: 'land',
      segment: 'Landed',
      timestamp: '2026/12/04/0100',
      parts: [{ rows: 30 }, { rows: 30, firstIndex: 30 }],
    });
    const runs = await waitForRuns(definition.id, 1);
    expect(runs).toMatchObject([{ trigger: 'blob', status: 'succeeded' }]);
    expect((await reportOf(stack, definition.id, runs[0]!.runId)).counts.confirmed).toBe(60);
    // model.json rewritten (as when another segment of the export lands): same snapshot, no second run.
    const model = await stack.segments.getBlobClient(written.modelBlob).downloadToBuffer();
    await stack.segments.getBlockBlobClient(written.modelBlob).upload(model, model.length);
    await new Promise((r) => setTimeout(r, 2_500));
    expect(await runsOf(definition.id)).toHaveLength(1);
    await fetch(`${stack.api}/exports/${definition.id}`, { method: 'DELETE' });
  });

  it('runs a plain segment when its _SUCCESS marker lands, and run-all starts every refresh export', async () => {
    const { definition } = await seedExport(stack, { segments: ['marked'] });
    await putSegmentFile(stack.segments, 'marked/part-1.csv', peopleCsv(10, { from: 71_000 }));
    await new Promise((r) => setTimeout(r, 1_500));
    expect(await runsOf(definition.id)).toEqual([]);
    await putSegmentFile(stack.segments, 'marked/_SUCCESS', '');
    expect(await waitForRuns(definition.id, 1)).toMatchObject([{ trigger: 'blob', status: 'succeeded' }]);

    const res = await fetch(`${stack.api}/exports/run-all`, { method: 'POST' });
    expect(res.status).toBe(202);
    const items = ((await res.json()) as { items: { exportId: string; outcome: string }[] }).items;
    expect(items.find((i) => i.exportId === definition.id)).toMatchObject({ outcome: 'started' });
    const runs = await waitForRuns(definition.id, 2);
    expect(runs[0]).toMatchObject({ trigger: 'runAll', status: 'succeeded' });
    await fetch(`${stack.api}/exports/${definition.id}`, { method: 'DELETE' });
  });

  it('gives exactly one follow-up run for triggers that arrive during a run', async () => {
    await putSegmentFile(stack.segments, 'busy/part-1.csv', peopleCsv(1_500, { from: 80_000 }));
    const { definition } = await seedExport(stack, { segments: ['busy'], schedule: 'off' });
    const first = await startRun(stack, definition.id);
    expect(first.outcome).toBe('started');
    const second = await startRun(stack, definition.id);
    const third = await startRun(stack, definition.id);
    expect(second).toMatchObject({
      outcome: 'followUpRequested',
      runId: first.runId,
      alreadyRequested: false,
    });
    expect(third).toMatchObject({ outcome: 'followUpRequested', runId: first.runId, alreadyRequested: true });
    const runs = await waitForRuns(definition.id, 2);
    await new Promise((r) => setTimeout(r, 1_000));
    const settled = await runsOf(definition.id);
    expect(settled).toHaveLength(2);
    expect(settled.map((r) => r.trigger)).toEqual(['followUp', 'http']);
    expect(runs.every((r) => r.status === 'succeeded')).toBe(true);
  });

  it('stops sending when a run is canceled, reports what was not sent, and the next run sends the rest', async () => {
    await putSegmentFile(stack.segments, 'stop/part-1.csv', peopleCsv(3_000, { from: 90_000 }));
    const { definition } = await seedExport(stack, { segments: ['stop'], schedule: 'off' });
    const mark = logMark(stack);
    const { runId } = await startRun(stack, definition.id);
    const deadline = Date.now() + 30_000;
    while (bulkContactsSent(stack, mark) === 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    const cancel = await fetch(`${stack.api}/exports/${definition.id}/runs/${runId}/cancel`, {
      method: 'POST',
    });
    expect(cancel.status).toBe(202);
    expect((await waitForRun(stack, definition.id, runId)).status).toBe('canceled');
    const report = await reportOf(stack, definition.id, runId);
    const sent = bulkContactsSent(stack, mark);
    expect(sent).toBeLessThan(3_000);
    expect(report.counts.sent).toBe(sent);
    expect(report.counts.notSent).toBe(3_000 - sent);
    expect(report.counts.confirmed + report.counts.failed).toBe(sent);
    expect(report.counts.valid).toBe(report.counts.unchanged + report.counts.sent + report.counts.notSent);

    const next = await startRun(stack, definition.id);
    expect((await waitForRun(stack, definition.id, next.runId)).status).toBe('succeeded');
    expect(bulkContactsSent(stack, mark)).toBe(3_000);
    const contacts = sandboxContacts(stack);
    for (let i = 90_000; i < 93_000; i++) expect(contacts.get(`p${i}@example.com`)?.writes).toBe(1);
  });
});
