import { randomUUID } from 'node:crypto';

import { TableClient } from '@azure/data-tables';
import { afterEach, describe, expect, it } from 'vitest';

import { type RunningSandbox, startSandbox } from '../../../dev/sandbox/server';
import {
  DEFAULT_RATE_LIMITS,
  InProcessRateBudget,
  type RateBudget,
  TableRateBudget,
} from '../../../shared/adapters/activecampaign';
import { azuriteConnectionString } from '../../helpers/azurite';
import { clientFor } from './harness';

// The sandbox allows 4 bulk imports per minute while the clients believe the documented 100: the fifth
// import of every minute is refused with bulk import's 400 "Rate limit exceeded.", a rate-limit episode.
// 12 imports fill three minute windows, so two episodes. At 10× a bulk slot (612 sandbox ms) is 61 real ms:
// the refusal's answer comes back long before the next worker's slot, which is what the re-check relies on.
const SANDBOX_BULK_PER_MINUTE = 4;
const WORKERS = 4;
const IMPORTS_PER_WORKER = 3;

let sandbox: RunningSandbox | undefined;
afterEach(async () => {
  await sandbox?.stop();
  sandbox = undefined;
});

/** Runs WORKERS clients, each importing IMPORTS_PER_WORKER times, every client with `budgetFor(i)`. */
async function runWorkers(running: RunningSandbox, budgetFor: (worker: number) => RateBudget) {
  const clients = Array.from({ length: WORKERS }, (_, i) => clientFor(running, { budget: budgetFor(i) }));
  await Promise.all(
    clients.map(async (client, worker) => {
      for (let i = 0; i < IMPORTS_PER_WORKER; i++) {
        await client.bulkImport({
          contacts: [{ email: `w${worker}-${i}-a@example.com` }, { email: `w${worker}-${i}-b@example.com` }],
        });
      }
    }),
  );
  return clients;
}

/** Checks one refusal per episode and that nothing reached the sandbox during a pause. */
function expectOneRefusalPerEpisode(running: RunningSandbox) {
  const imports = running.state.log.filter((r) => r.path === '/api/3/import/bulk_import');
  const refused = imports.filter((r) => r.outcome === 'bulk-throttled');
  expect(imports.filter((r) => r.status === 200)).toHaveLength(WORKERS * IMPORTS_PER_WORKER);
  expect(refused).toHaveLength(2);
  for (const refusal of refused) {
    // Every other worker's import waited out the minute the refusal asked for.
    const during = imports.filter((r) => r.at > refusal.at && r.at < refusal.at + 60_000);
    expect(during.map((r) => r.seq)).toEqual([]);
  }
}

describe('pause() across workers sharing one budget', () => {
  it('costs one refusal per rate-limit episode when four clients share one InProcessRateBudget', async () => {
    const running = (sandbox = await startSandbox({
      timeScale: 10,
      seed: 21,
      bulkImportsPerMinute: SANDBOX_BULK_PER_MINUTE,
    }));
    await clientFor(running).verifyCredentials();
    running.state.reset();
    const shared = new InProcessRateBudget(running.clock, {
      ...DEFAULT_RATE_LIMITS,
      jitterAllowanceMs: 15 * running.clock.timeScale,
    });
    const clients = await runWorkers(running, () => shared);
    expectOneRefusalPerEpisode(running);
    expect(clients.reduce((sum, c) => sum + c.stats.bulkRateLimited, 0)).toBe(2);
  });

  it('costs one refusal per rate-limit episode when four processes each hold a TableRateBudget on one row', async () => {
    const running = (sandbox = await startSandbox({
      timeScale: 10,
      seed: 22,
      bulkImportsPerMinute: SANDBOX_BULK_PER_MINUTE,
    }));
    await clientFor(running).verifyCredentials();
    running.state.reset();
    const tableName = `acpause${randomUUID().replace(/-/g, '').slice(0, 12)}`;
    // A wider request margin than the default widens the on-time tolerance of a reservation: each costs
    // two Azurite round trips, which are multiplied by the time scale. The bulk budget is what is under test.
    const limits = { ...DEFAULT_RATE_LIMITS, requestSafety: 0.5, jitterAllowanceMs: 0 };
    await runWorkers(
      running,
      () =>
        new TableRateBudget(
          TableClient.fromConnectionString(azuriteConnectionString(), tableName, {
            allowInsecureConnection: true,
          }),
          running.hostForClient,
          running.clock,
          { limits },
        ),
    );
    expectOneRefusalPerEpisode(running);
  });
});
