import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { type AppStack, startAppStack } from './appStack';
import { peopleCsv, putSegmentFile, reportOf, seedExport, startRun, waitForRun } from './seed';

describe('export run through the local host', () => {
  let stack: AppStack;

  beforeAll(async () => {
    stack = await startAppStack({ sandbox: { timeScale: 20 } });
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('exports a plain segment into the list when started over HTTP', async () => {
    await putSegmentFile(stack.segments, 'people/part-1.csv', peopleCsv(600));
    const { definition } = await seedExport(stack);
    const { runId, outcome } = await startRun(stack, definition.id);
    expect(outcome).toBe('started');
    const run = await waitForRun(stack, definition.id, runId);
    expect(run.status).toBe('succeeded');
    const report = await reportOf(stack, definition.id, runId);
    expect(report.counts).toMatchObject({ rows: 600, valid: 600, sent: 600, confirmed: 600, failed: 0 });
    const contacts = [...stack.sandbox.state.account(undefined).contacts.values()];
    expect(contacts).toHaveLength(600);
    expect(contacts.every((c) => c.lists['1'] === 1 && c.writes === 1)).toBe(true);
    expect(contacts.find((c) => c.email === 'p7@example.com')).toMatchObject({
      firstName: 'First7',
      lastName: 'Last7',
    });
  });
});
