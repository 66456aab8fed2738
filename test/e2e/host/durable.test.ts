import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { type RunningHost, startHost } from '../../../dev/host/startHost';
import { azuriteConnectionString } from '../../helpers/azurite';
import { captureLogs } from './helpers';

/** The host starting the real Durable backend (dev/durable) for an app that registers Durable functions. */
describe('local host with the Durable backend', () => {
  let running: RunningHost;
  const logs = captureLogs();

  beforeAll(async () => {
    running = await startHost({
      appDir: path.resolve(__dirname, '../../fixtures/durable-app'),
      port: 0,
      logger: logs.logger,
      env: {
        AzureWebJobsStorage: azuriteConnectionString(),
        DURABLE_TASK_HUB_NAME: `HostE2E${Date.now().toString(36)}`,
      },
    });
  });

  afterAll(async () => {
    await running?.stop();
  });

  it('loads dev/durable, fills durableClient inputs and serves the status webhooks on the host origin', async () => {
    expect(running.durableRpcBaseUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\//);
    const res = await fetch(`${running.url}/api/orchestrators/fanOut`, {
      method: 'POST',
      body: JSON.stringify({ count: 3, timerMs: 20 }),
    });
    expect(res.status).toBe(202);
    const check = (await res.json()) as { id: string; statusQueryGetUri: string };
    expect(check.statusQueryGetUri.startsWith(`${running.url}/runtime/webhooks/durabletask/`)).toBe(true);

    let last: { runtimeStatus?: string; output?: unknown } = {};
    const deadline = Date.now() + 20_000;
    while (last.runtimeStatus !== 'Completed' && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      last = (await (await fetch(check.statusQueryGetUri)).json()) as typeof last;
    }
    expect(last.runtimeStatus).toBe('Completed');
    expect(last.output).toMatchObject({ generation: 0, sum: 6, retried: 'skipped' });
  });
});
