import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { type RunningHost, startHost } from '../../../dev/host/startHost';
import { captureLogs, hostFixtures, waitFor } from './helpers';

describe('local host timer triggers', () => {
  let running: RunningHost;
  const logs = captureLogs();

  beforeAll(async () => {
    running = await startHost({
      appDir: path.join(hostFixtures, 'timer-app'),
      port: 0,
      logger: logs.logger,
      env: { TIMER_SCHEDULE: '*/1 * * * * *' },
    });
  });

  afterAll(async () => {
    await running?.stop();
  });

  it('fires on its NCRONTAB schedule taken from a %SETTING% within a couple of seconds', async () => {
    expect(running.functionHost.getFunction('everySecond')?.trigger.schedule).toBe('*/1 * * * * *');
    const ticks = await waitFor(
      () => {
        const found = logs.entries.filter(
          (e) => e.functionName === 'everySecond' && e.message.startsWith('TICK '),
        );
        return found.length >= 2 ? found : undefined;
      },
      4_000,
      'two scheduled ticks',
    );
    const timer = JSON.parse(ticks[1]!.message.slice('TICK '.length)) as Record<string, unknown>;
    expect(timer).toMatchObject({ isPastDue: false, schedule: { adjustForDST: true } });
    const status = timer.scheduleStatus as { last: string; next: string; lastUpdated: string };
    expect(Date.parse(status.next)).toBeGreaterThan(Date.parse(status.last));
    expect(Number.isNaN(Date.parse(status.lastUpdated))).toBe(false);
  });

  it('runs a runOnStartup timer once at start-up', async () => {
    await waitFor(() => logs.entries.find((e) => e.message === 'STARTUP RUN'), 2_000, 'the start-up run');
    expect(logs.entries.filter((e) => e.message === 'STARTUP RUN')).toHaveLength(1);
  });

  it('fires a timer now from code with the timer payload the worker passes', async () => {
    const result = await running.fireTimer('yearly');
    const returnValue = result?.returnValue as { timer: Record<string, unknown> };
    expect(returnValue.timer).toMatchObject({
      isPastDue: false,
      schedule: { adjustForDST: true },
      scheduleStatus: { last: '0001-01-01T00:00:00' },
    });
    const next = (returnValue.timer.scheduleStatus as { next: string }).next;
    expect(new Date(next).getUTCMonth()).toBe(0);
    expect(new Date(next).getUTCDate()).toBe(1);
  });

  it('fires a timer through POST /admin/functions/{name} with 202', async () => {
    const before = logs.entries.filter((e) => e.message === 'yearly fired').length;
    const res = await fetch(`${running.url}/admin/functions/yearly`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ input: '' }),
    });
    expect(res.status).toBe(202);
    await waitFor(
      () => (logs.entries.filter((e) => e.message === 'yearly fired').length > before ? true : undefined),
      2_000,
      'the admin-fired run',
    );
  });

  it('answers 404 on the admin route for unknown or HTTP functions', async () => {
    expect((await fetch(`${running.url}/admin/functions/nope`, { method: 'POST' })).status).toBe(404);
    expect((await fetch(`${running.url}/admin/functions/ping`, { method: 'POST' })).status).toBe(404);
  });

  it('serves HTTP at the root when host.json sets an empty route prefix', async () => {
    expect(await (await fetch(`${running.url}/ping`)).text()).toBe('pong');
  });

  it('fails loudly at start-up when a %SETTING% in a schedule is missing', async () => {
    delete process.env.TIMER_SCHEDULE_MISSING_TEST;
    const saved = process.env.TIMER_SCHEDULE;
    delete process.env.TIMER_SCHEDULE;
    try {
      await expect(
        startHost({ appDir: path.join(hostFixtures, 'timer-app'), port: 0, logger: () => undefined }),
      ).rejects.toThrow("'%TIMER_SCHEDULE%' does not resolve to a value");
    } finally {
      process.env.TIMER_SCHEDULE = saved;
    }
  });
});
