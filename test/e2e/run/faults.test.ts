import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { type AppStack, startAppStack } from './appStack';
import {
  bulkContactsSent,
  peopleCsv,
  putSegmentFile,
  reportOf,
  sandboxContacts,
  seedExport,
  startRun,
  waitForRun,
} from './seed';

const PEOPLE = 6_000;

describe('export run under ActiveCampaign faults and a host crash', () => {
  let stack: AppStack;

  beforeAll(async () => {
    stack = await startAppStack({
      sandbox: {
        timeScale: 10,
        seed: 7,
        // A small bulk budget (10 a minute, so 100 a real minute at 10x) that 24 requests overrun.
        bulkImportsPerMinute: 10,
        faults: {
          rate429: 0.05,
          rate503: 0.05,
          resetBeforeRate: 0.03,
          resetAfterRate: 0.03,
          failedBatchRate: 0.1,
          interruptedBatchRate: 0.1,
          injectedRetryAfterSeconds: 1,
        },
      },
      // The host believes in 1.5x the sandbox's bulk budget, so it meets the documented 400 "Rate limit exceeded.".
      env: { ACTIVECAMPAIGN_BULK_IMPORTS_PER_MINUTE: String(15 * 10), EXPORT_MAX_RESUBMITS: '5' },
    });
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('ends with exactly the expected contacts after 429s, 503s, resets, rate-limit 400s, failed and interrupted batches and a SIGKILL', async () => {
    await putSegmentFile(stack.segments, 'faulty/part-1.csv', peopleCsv(PEOPLE, { from: 100_000 }));
    const { definition } = await seedExport(stack, { segments: ['faulty'] });
    const { runId } = await startRun(stack, definition.id);
    // Kill the host once some requests went out, then start it again on the same storage.
    const deadline = Date.now() + 60_000;
    while (bulkContactsSent(stack) < 1_000 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    await stack.restartHost({ kill: true });

    let run = await waitForRun(stack, definition.id, runId, 240_000);
    const reports = [await reportOf(stack, definition.id, runId)];
    // Contacts this run could not confirm are sent again by the next one (none lost, none falsely confirmed).
    for (let attempt = 0; run.status !== 'succeeded' && attempt < 3; attempt++) {
      expect(run.status).toBe('succeededWithRejections');
      const next = await startRun(stack, definition.id);
      run = await waitForRun(stack, definition.id, next.runId, 240_000);
      reports.push(await reportOf(stack, definition.id, next.runId));
    }
    const log = stack.sandbox.state.log;
    expect(log.some((r) => r.outcome === 'bulk-throttled')).toBe(true);
    expect(log.some((r) => r.outcome === 'reset-after')).toBe(true);

    const contacts = sandboxContacts(stack);
    expect(contacts.size).toBe(PEOPLE);
    for (let i = 100_000; i < 100_000 + PEOPLE; i++) {
      const c = contacts.get(`p${i}@example.com`);
      expect(c, `p${i}`).toBeDefined();
      expect(c!.lists['1']).toBe(1);
      expect(c!.firstName).toBe(`First${i}`);
    }
    // A contact is written twice only where the run says it may have been: a resend after a lost answer (or
    // a send the crash cut short), or a resubmitted interrupted batch (ActiveCampaign applied its first part).
    const interrupted = [...stack.sandbox.state.account(undefined).batches.values()]
      .filter((b) => b.fate === 'interrupted')
      .reduce((n, b) => n + b.contacts.length, 0);
    const mayBeTwice = reports.reduce((n, r) => n + r.mayHaveBeenAppliedTwice, 0);
    const twice = [...contacts.values()].filter((c) => c.writes > 1).length;
    expect(twice).toBeLessThanOrEqual(mayBeTwice + interrupted);
    const confirmed = reports.reduce((n, r) => n + r.counts.confirmed, 0);
    expect(confirmed).toBe(PEOPLE);
  }, 600_000);
});
