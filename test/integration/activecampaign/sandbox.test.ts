import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { SandboxAccount } from '../../../dev/sandbox/account';
import { type RunningSandbox, startSandbox } from '../../../dev/sandbox/server';
import { type BatchOutcome, toBatchOutcome } from '../../../shared/adapters/activecampaign';
import { clientFor } from './harness';

describe('SandboxAccount.info', () => {
  it('applies a batch that finished before it reports it completed, even without an advance at that time', () => {
    const account = new SandboxAccount({ name: 'a', apiKeys: ['k'] });
    const batch = account.queueBatch(
      [{ email: 'a@example.com' }, { email: 'b@example.com' }],
      0,
      { readyDelayMs: 10, waitingMs: 20, claimedMs: 5, msPerContact: 10 },
      'completed',
    );
    account.advance(39); // the request's own advance, a moment before it reads the clock again
    const info = account.info(batch, 41);
    expect(info).toMatchObject({ status: 'completed', failure: [] });
    expect(info.success).toHaveLength(2);
  });

  it('reports false, waiting, claimed, active, completed in the documented order as time passes', () => {
    const account = new SandboxAccount({ name: 'a', apiKeys: ['k'] });
    const batch = account.queueBatch(
      [{ email: 'a@example.com' }],
      0,
      { readyDelayMs: 1_000, waitingMs: 1_500, claimedMs: 300, msPerContact: 10 },
      'completed',
    );
    const at = (t: number) => {
      account.advance(t);
      return account.info(batch, t).status;
    };
    expect([at(999), at(1_000), at(1_199), at(1_200), at(1_499), at(1_500), at(1_509), at(1_510)]).toEqual([
      false,
      'waiting',
      'waiting',
      'claimed',
      'claimed',
      'active',
      'active',
      'completed',
    ]);
  });
});

let sandbox: RunningSandbox;
beforeAll(async () => {
  sandbox = await startSandbox({ timeScale: 20, batchClaimedMs: 1_000 });
});
afterAll(() => sandbox.stop());

describe('the sandbox import/info through the client', () => {
  it('shows the client a claimed batch as pending before it completes', async () => {
    const client = clientFor(sandbox);
    const request = { contacts: [{ email: 'a@example.com' }, { email: 'b@example.com' }] };
    const { batchId } = await client.bulkImport(request);
    const seen: BatchOutcome[] = [];
    for (;;) {
      const outcome = toBatchOutcome(await client.getImportInfo(batchId), ['a@example.com', 'b@example.com']);
      seen.push(outcome);
      if (outcome.state !== 'pending') break;
    }
    expect(seen).toContainEqual({ state: 'pending', status: 'claimed' });
    expect(seen.at(-1)?.state).toBe('completed');
  });
});
