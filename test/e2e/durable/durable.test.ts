/**
 * The Durable backend end to end, through the real local host process entry
 * (`node dist/dev/host/main.js --app test/fixtures/durable-app --port 0`, see harness.ts) with its history in
 * the run-wide Azurite: SIGKILL in the middle of a 500-activity fan-out and restart; a durable timer pending
 * at the kill; the management API driven through an HTTP function using df.getClient().
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import { EventType, type HistoryEvent } from '../../../dev/durable/history';
import { TableStore } from '../../../dev/durable/store';
import { azuriteConnectionString } from '../../helpers/azurite';
import {
  fileLines,
  killAllHostProcesses,
  poll,
  startHostProcess,
  startOrchestration,
  uniqueHub,
  webhookStatus,
} from './harness';

afterEach(async () => {
  await killAllHostProcesses();
});

/** The indexes of `work` activities whose line of the given kind (`start`/`end`) appears in `lines`. */
function indexes(lines: string[], kind: 'start' | 'end'): number[] {
  return lines.filter((l) => l.startsWith(`${kind} `)).map((l) => Number(l.split(' ')[1]));
}

/** The most `work` activities running at once in one process's stretch of the log. */
function maxConcurrency(lines: string[]): number {
  let running = 0;
  let max = 0;
  for (const line of lines) {
    if (line.startsWith('start ')) max = Math.max(max, ++running);
    else if (line.startsWith('end ')) running--;
  }
  return max;
}

function countBy(values: number[]): Map<number, number> {
  const counts = new Map<number, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return counts;
}

/**
 * The `work` results the killed host had made durable: TaskCompleted events in the committed history of
 * the instance plus those waiting in its inbox (read with the backend's own store, while no host runs).
 * The fixture's `work` returns `2 * i`, so a result names its index.
 */
async function recordedResults(hub: string, instanceId: string): Promise<Set<number>> {
  const store = new TableStore(azuriteConnectionString(), hub);
  const instance = await store.readInstance(instanceId);
  if (!instance) throw new Error(`instance ${instanceId} is not in storage`);
  const events: HistoryEvent[] = (
    await store.readHistory(instanceId, instance.executionId, instance.historyLength)
  ).map((row) => row.event);
  for (const message of await store.listMessages())
    if (message.instanceId === instanceId && message.event) events.push(message.event);
  return new Set(
    events
      .filter((e) => e.EventType === EventType.TaskCompleted)
      .map((e) => (JSON.parse(e.Result as string) as number) / 2),
  );
}

describe('Durable backend (host process entry)', () => {
  it('resumes a 500-activity fan-out after SIGKILL, re-running only activities whose result was not recorded', async () => {
    const count = 500;
    const hub = uniqueHub('Kill');
    const logFile = path.join(mkdtempSync(path.join(tmpdir(), 'durable-kill-')), 'executions.log');
    const first = await startHostProcess(hub);
    const instanceId = await startOrchestration(first.url, 'fanOut', {
      count,
      logFile,
      delayMs: 50,
      timerMs: 10,
    });

    // Kill once a good share has completed while several are running (host.json: 8 activities at a time).
    await poll(
      () => {
        const lines = fileLines(logFile);
        const ended = indexes(lines, 'end').length;
        return ended >= 120 && indexes(lines, 'start').length - ended >= 4 ? true : undefined;
      },
      45_000,
      '120 finished activities with at least 4 in flight',
      10,
    );
    await first.kill();
    const beforeKill = fileLines(logFile);
    const startedBefore = new Set(indexes(beforeKill, 'start'));
    const endedBefore = new Set(indexes(beforeKill, 'end'));
    const inFlight = [...startedBefore].filter((i) => !endedBefore.has(i));
    // Writes the killed process had already sent may still be landing in Azurite: read until two reads
    // 200 ms apart agree.
    let recorded = await recordedResults(hub, instanceId);
    for (;;) {
      await new Promise((r) => setTimeout(r, 200));
      const again = await recordedResults(hub, instanceId);
      if (again.size === recorded.size) break;
      recorded = again;
    }

    const second = await startHostProcess(hub);
    const done = await poll(
      async () => {
        const status = await webhookStatus(second.url, instanceId);
        if (['Failed', 'Terminated'].includes(status.runtimeStatus))
          throw new Error(`orchestration ${status.runtimeStatus}: ${JSON.stringify(status.output)}`);
        return status.runtimeStatus === 'Completed' ? status : undefined;
      },
      60_000,
      'completion after restart',
      100,
    );
    expect(done.output).toEqual({ generation: 0, sum: count * (count - 1), retried: 'skipped' });

    const afterKill = fileLines(logFile).slice(beforeKill.length);
    const startsAfter = countBy(indexes(afterKill, 'start'));
    const rerun = [...startsAfter.keys()].filter((i) => startedBefore.has(i)).sort((a, b) => a - b);
    const finishedButUnrecorded = [...endedBefore].filter((i) => !recorded.has(i));
    const report = {
      completedBeforeKill: endedBefore.size,
      recordedBeforeKill: recorded.size,
      inFlightAtKill: inFlight.length,
      finishedButUnrecorded: finishedButUnrecorded.length,
      rerun: rerun.length,
      maxConcurrentBeforeKill: maxConcurrency(beforeKill),
      maxConcurrentAfterRestart: maxConcurrency(afterKill),
      executionsTotal: indexes(fileLines(logFile), 'start').length,
    };
    console.log(`durable kill test: ${JSON.stringify(report)}`);

    expect(endedBefore.size).toBeGreaterThanOrEqual(120);
    expect(inFlight.length).toBeGreaterThanOrEqual(4);
    // host.json maxConcurrentActivityFunctions = 8, in both processes.
    expect(report.maxConcurrentBeforeKill).toBeLessThanOrEqual(8);
    expect(report.maxConcurrentAfterRestart).toBeLessThanOrEqual(8);
    // A result can only be recorded for an activity that finished.
    for (const i of recorded) expect(endedBefore.has(i)).toBe(true);
    // Every index ran and finished.
    const allEnded = new Set(indexes(fileLines(logFile), 'end'));
    expect(allEnded.size).toBe(count);
    for (let i = 0; i < count; i++) expect(allEnded.has(i), `activity ${i} finished`).toBe(true);
    // Nothing whose result was recorded ran again; everything started but unrecorded ran again (at least
    // once, as in Azure); the restarted host ran each activity at most once.
    expect(rerun).toEqual([...startedBefore].filter((i) => !recorded.has(i)).sort((a, b) => a - b));
    for (const i of inFlight) expect(startsAfter.has(i), `in-flight activity ${i} re-ran`).toBe(true);
    expect([...startsAfter.values()].every((n) => n === 1)).toBe(true);
    for (let i = 0; i < count; i++)
      if (!startedBefore.has(i)) expect(startsAfter.get(i), `activity ${i} ran after restart`).toBe(1);
    // Re-runs are bounded by what can be in flight (8 at a time) plus results lost in the same instant.
    expect(rerun.length).toBeLessThanOrEqual(inFlight.length + finishedButUnrecorded.length);
    await second.stop();
  }, 80_000);

  it('fires a durable timer that was pending at SIGKILL after the restart, not before it was due', async () => {
    const hub = uniqueHub('Timer');
    const first = await startHostProcess(hub);
    const instanceId = await startOrchestration(first.url, 'sleeper', { seconds: 8 });
    const waiting = await poll(
      async () => {
        const status = await webhookStatus(first.url, instanceId);
        return (status.customStatus as { fireAt?: string } | null)?.fireAt ? status : undefined;
      },
      15_000,
      'timer created',
    );
    const fireAt = Date.parse((waiting.customStatus as { fireAt: string }).fireAt);
    await first.kill();
    const killedAt = Date.now();
    expect(killedAt).toBeLessThan(fireAt);

    const second = await startHostProcess(hub);
    const restartedAt = Date.now();
    console.log(
      `durable timer test: killed ${fireAt - killedAt} ms before due, restarted in ${restartedAt - killedAt} ms`,
    );
    // Otherwise the timer would simply be overdue and "not early" would prove nothing.
    expect(restartedAt, 'restart finished before the timer was due').toBeLessThan(fireAt);
    expect((await webhookStatus(second.url, instanceId)).runtimeStatus).toBe('Running');
    const done = await poll(
      async () => {
        const status = await webhookStatus(second.url, instanceId);
        return status.runtimeStatus === 'Completed' ? status : undefined;
      },
      20_000,
      'completion after the timer',
      50,
    );
    const seenAt = Date.now();
    console.log(
      `durable timer test: code after the timer ran ${Date.parse((done.output as { ranAt: string }).ranAt) - fireAt} ms after due`,
    );
    const output = done.output as { fireAt: string; ranAt: string };
    expect(Date.parse(output.fireAt)).toBe(fireAt);
    // The code after the timer ran at or after the due time, and not long after it.
    expect(Date.parse(output.ranAt)).toBeGreaterThanOrEqual(fireAt);
    expect(Date.parse(done.lastUpdatedTime)).toBeGreaterThanOrEqual(Math.floor(fireAt / 1000) * 1000);
    expect(seenAt).toBeGreaterThanOrEqual(fireAt);
    expect(Date.parse(output.ranAt) - fireAt).toBeLessThan(5_000);
    await second.stop();
  }, 45_000);

  it('fails with "run npm run build first" when the built process entry is missing', async () => {
    await expect(
      startHostProcess(uniqueHub('Nobuild'), { entry: path.join(tmpdir(), 'no-such-dist', 'main.js') }),
    ).rejects.toThrow(/is missing: run npm run build first/);
  });

  it('serves the management API to df.getClient() and createCheckStatusResponse links', async () => {
    const running = await startHostProcess(uniqueHub('Api'));
    const manage = async (op: Record<string, unknown>) => {
      const res = await fetch(`${running.url}/api/manage`, { method: 'POST', body: JSON.stringify(op) });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };

    // Start through an HTTP function, then poll the statusQueryGetUri it links to.
    const started = await fetch(`${running.url}/api/orchestrators/waiter`, { method: 'POST', body: 'null' });
    expect(started.status).toBe(202);
    const links = (await started.json()) as Record<string, string>;
    expect(started.headers.get('location')).toBe(links.statusQueryGetUri);
    expect(
      links.statusQueryGetUri!.startsWith(`${running.url}/runtime/webhooks/durabletask/instances/`),
    ).toBe(true);
    const waiting = await poll(
      async () => {
        const res = await fetch(links.statusQueryGetUri!);
        const body = (await res.json()) as { customStatus: unknown };
        return res.status === 202 && body.customStatus === 'waiting' ? body : undefined;
      },
      20_000,
      'waiting status',
    );
    expect(waiting).toMatchObject({ name: 'waiter', runtimeStatus: 'Running' });

    // Raise the event through the client, poll the link to completion.
    expect(
      (await manage({ op: 'raiseEvent', instanceId: links.id, eventName: 'go', data: { n: 7 } })).status,
    ).toBe(200);
    const completed = await poll(
      async () => {
        const res = await fetch(links.statusQueryGetUri!);
        return res.status === 200 ? ((await res.json()) as Record<string, unknown>) : undefined;
      },
      20_000,
      'completion',
    );
    expect(completed).toMatchObject({
      runtimeStatus: 'Completed',
      output: { got: { n: 7 } },
      customStatus: 'got it',
    });

    // The client's own status call (rpcBaseUrl) sees the same.
    const viaClient = await manage({ op: 'getStatus', instanceId: links.id });
    expect(viaClient.body).toMatchObject({ runtimeStatus: 'Completed', output: { got: { n: 7 } } });

    // The raiseEvent link of createCheckStatusResponse works on the host origin too.
    const second = (await (
      await fetch(`${running.url}/api/orchestrators/waiter`, { method: 'POST', body: 'null' })
    ).json()) as Record<string, string>;
    await poll(
      async () =>
        (await manage({ op: 'getStatus', instanceId: second.id })).body.runtimeStatus === 'Running'
          ? true
          : undefined,
      20_000,
      'running',
    );
    const viaLink = await fetch(second.sendEventPostUri!.replace('{eventName}', 'nothing'), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(1),
    });
    expect(viaLink.status).toBe(202);

    // Terminate through the client.
    expect((await manage({ op: 'terminate', instanceId: second.id, reason: 'enough' })).status).toBe(200);
    await poll(
      async () =>
        (await manage({ op: 'getStatus', instanceId: second.id })).body.runtimeStatus === 'Terminated'
          ? true
          : undefined,
      20_000,
      'terminated',
    );

    // List by filter, then purge one and by filter.
    const completedList = await manage({ op: 'listByStatus', runtimeStatus: ['Completed'] });
    expect((completedList.body as unknown as { instanceId: string }[]).map((i) => i.instanceId)).toEqual([
      links.id,
    ]);
    expect((await manage({ op: 'purge', instanceId: links.id })).body).toEqual({ instancesDeleted: 1 });
    expect((await fetch(links.statusQueryGetUri!)).status).toBe(404);
    expect(
      (
        await manage({
          op: 'purgeBy',
          createdTimeFrom: '2000-01-01T00:00:00Z',
          runtimeStatus: ['Terminated'],
        })
      ).body,
    ).toEqual({ instancesDeleted: 1 });
    expect((await manage({ op: 'listAll' })).body).toEqual([]);

    // createHttpManagementPayload links point at the host, not at localhost:7071.
    const payload = (await manage({ op: 'payload', instanceId: 'abc' })).body;
    expect(String(payload.statusQueryGetUri)).toMatch(
      new RegExp(
        `^${running.url.replace(/[.]/g, '\\.')}/runtime/webhooks/durabletask/instances/abc\\?taskHub=\\w+&connection=Storage`,
      ),
    );
    await running.stop();
  }, 60_000);
});

describe('local Durable backend: concurrent starts of one instance id', () => {
  it('answers 202 to exactly one of concurrent starts and 409 to the rest, also when re-creating a finished instance', async () => {
    const hub = uniqueHub('Race');
    const running = await startHostProcess(hub);
    const webhook = `${running.url}/runtime/webhooks/durabletask`;
    const race = async (): Promise<number[]> =>
      (
        await Promise.all(
          Array.from({ length: 8 }, (_, i) =>
            fetch(`${webhook}/orchestrators/waiter/export-1`, { method: 'POST', body: JSON.stringify(i) }),
          ),
        )
      )
        .map((res) => res.status)
        .sort();
    const store = new TableStore(azuriteConnectionString(), hub);
    const executionStarts = async (): Promise<number> => {
      const record = (await store.readInstance('export-1'))!;
      const rows = await store.readHistory('export-1', record.executionId, record.historyLength);
      return rows.filter((r) => r.event.EventType === EventType.ExecutionStarted).length;
    };
    const runToCompletion = async (data: number) => {
      await poll(
        async () =>
          (await webhookStatus(running.url, 'export-1')).customStatus === 'waiting' ? true : undefined,
        20_000,
        'waiting',
      );
      expect(await executionStarts()).toBe(1);
      const raised = await fetch(`${webhook}/instances/export-1/raiseEvent/go`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(data),
      });
      expect(raised.status).toBe(202);
      return poll(
        async () => {
          const status = await webhookStatus(running.url, 'export-1');
          return status.runtimeStatus === 'Completed' ? status : undefined;
        },
        20_000,
        'completion',
      );
    };

    expect(await race()).toEqual([202, 409, 409, 409, 409, 409, 409, 409]);
    expect((await runToCompletion(1)).output).toEqual({ got: 1 });
    // The committed row names the messages it consumed (what a restart skips); none are left behind.
    expect((await store.readInstance('export-1'))!.consumedMessageIds?.length).toBeGreaterThan(0);
    expect(await store.listMessages()).toEqual([]);

    expect(await race()).toEqual([202, 409, 409, 409, 409, 409, 409, 409]);
    expect((await runToCompletion(2)).output).toEqual({ got: 2 });
    await running.stop();
  }, 45_000);
});
