/**
 * The Durable engine against the real host core and the real durable-functions executor, with the
 * in-memory store (the Azure Tables store and restarts are covered end to end in test/e2e/durable).
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { type DurableBackend, DurableEngine, startDurableBackend } from '../../../dev/durable';
import { InstanceExistsError } from '../../../dev/durable/engine';
import { EventType, eventTypeName } from '../../../dev/durable/history';
import { MemoryStore } from '../../../dev/durable/store';
import { createFunctionHost, type LocalFunctionHost } from '../../../dev/host/functionHost';

let host: LocalFunctionHost;
let backend: DurableBackend;
let store: MemoryStore;
const logs: string[] = [];
const dir = mkdtempSync(path.join(tmpdir(), 'durable-engine-'));

beforeAll(async () => {
  host = await createFunctionHost({
    appDir: 'test/fixtures/durable-app',
    env: { DURABLE_TASK_HUB_NAME: 'EngineHub' },
    logger: () => undefined,
  });
  store = new MemoryStore();
  backend = await startDurableBackend({
    host,
    storageConnectionString: 'unused',
    taskHubName: 'EngineHub',
    hostJson: host.hostJson,
    baseUrl: 'http://127.0.0.1:7071',
    store,
    maxPayloadBytes: 10_000,
    log: (message) => logs.push(message),
  });
});

afterAll(async () => {
  await backend.stop();
  await host.dispose();
});

async function start(name: string, instanceId: string, input: unknown): Promise<Response> {
  return fetch(`${backend.rpcBaseUrl}orchestrators/${name}/${instanceId}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(input),
  });
}

async function status(instanceId: string, query = ''): Promise<Record<string, unknown>> {
  const res = await fetch(`${backend.rpcBaseUrl}instances/${instanceId}${query}`);
  return (await res.json()) as Record<string, unknown>;
}

async function rawHistory(instanceId: string): Promise<{ type: string; id: number; ref?: number }[]> {
  const record = (await store.readInstance(instanceId))!;
  const rows = await store.readHistory(instanceId, record.executionId, record.historyLength);
  return rows.map((r) => ({
    type: eventTypeName(r.event.EventType),
    id: r.event.EventId,
    ...(typeof r.event.TaskScheduledId === 'number' ? { ref: r.event.TaskScheduledId } : {}),
    ...(typeof r.event.TimerId === 'number' ? { ref: r.event.TimerId } : {}),
  }));
}

describe('DurableEngine', () => {
  it('completes a 500-activity fan-out with a retried activity and a timer, with the DTFx history shape', async () => {
    const attemptsFile = path.join(dir, 'attempts-fan');
    const logFile = path.join(dir, 'log-fan');
    expect((await start('fanOut', 'fan', { count: 500, attemptsFile, logFile, timerMs: 50 })).status).toBe(
      202,
    );
    const record = await backend.engine.waitForCompletion('fan', 60_000);
    expect(record.runtimeStatus).toBe('Completed');
    expect(JSON.parse(record.output!)).toEqual({ generation: 0, sum: 249_500, retried: 'ok after 3' });
    expect(readFileSync(attemptsFile, 'utf8').trim().split('\n')).toHaveLength(3);
    expect(
      readFileSync(logFile, 'utf8')
        .trim()
        .split('\n')
        .filter((l) => l.startsWith('end')),
    ).toHaveLength(500);

    const history = await rawHistory('fan');
    const count = (type: string) => history.filter((e) => e.type === type).length;
    expect(history[0]!.type).toBe('OrchestratorStarted');
    expect(history[1]!.type).toBe('ExecutionStarted');
    expect(history.at(-1)!.type).toBe('ExecutionCompleted');
    // 500 fan-out + 3 attempts of the retried activity; 2 retry timers + the durable timer.
    expect(count('TaskScheduled')).toBe(503);
    expect(count('TaskCompleted')).toBe(501);
    expect(count('TaskFailed')).toBe(2);
    expect(count('TimerCreated')).toBe(3);
    expect(count('TimerFired')).toBe(3);
    // Ids as the executor assigns them: fan-out 0..499, then attempt 500, retry timer 501, attempt 502,
    // timer 503, attempt 504, and the durable timer 505.
    const scheduling = history.filter((e) => e.type === 'TaskScheduled' || e.type === 'TimerCreated');
    expect(scheduling.slice(500).map((e) => `${e.type}:${e.id}`)).toEqual([
      'TaskScheduled:500',
      'TimerCreated:501',
      'TaskScheduled:502',
      'TimerCreated:503',
      'TaskScheduled:504',
      'TimerCreated:505',
    ]);
    expect(history.filter((e) => e.type === 'TaskFailed').map((e) => e.ref)).toEqual([500, 502]);
    // Every episode is bracketed by OrchestratorStarted ... OrchestratorCompleted.
    expect(count('OrchestratorStarted')).toBe(count('OrchestratorCompleted'));

    // The status API shows the documented condensed form.
    const shown = await status('fan', '?showHistory=true&showHistoryOutput=true');
    const events = shown.historyEvents as { EventType: string; FunctionName?: string; Result?: unknown }[];
    expect(events[0]).toMatchObject({ EventType: 'ExecutionStarted', FunctionName: 'fanOut' });
    expect(events.filter((e) => e.EventType === 'TaskCompleted' && e.FunctionName === 'work')).toHaveLength(
      500,
    );
    expect(events.filter((e) => e.EventType === 'TaskFailed' && e.FunctionName === 'flaky')).toHaveLength(2);
    expect(events.at(-1)).toMatchObject({
      EventType: 'ExecutionCompleted',
      OrchestrationStatus: 'Completed',
    });
    expect(events.some((e) => e.EventType === 'TaskScheduled' || e.EventType === 'OrchestratorStarted')).toBe(
      false,
    );
  }, 90_000);

  it('continues as new with the new input and keeps only the latest execution', async () => {
    await start('fanOut', 'can', { count: 4, timerMs: 10, continueAsNew: true });
    const record = await backend.engine.waitForCompletion('can');
    expect(JSON.parse(record.output!)).toEqual({
      generation: 1,
      sum: 6,
      retried: 'skipped',
      firstSum: 12,
      firstRetried: 'skipped',
    });
    expect(JSON.parse(record.input!)).toMatchObject({ generation: 1, count: 3 });
    const history = await rawHistory('can');
    expect(history.filter((e) => e.type === 'TaskScheduled')).toHaveLength(3);
  });

  it('fails the instance with a NonDeterministic error when a replay schedules a different activity', async () => {
    await start('nondeterministic', 'nd', {});
    const record = await backend.engine.waitForCompletion('nd');
    expect(record.runtimeStatus).toBe('Failed');
    expect(record.output).toContain('Non-Deterministic workflow detected');
    expect(record.output).toContain("activity 'echo' with sequence id 0");
    expect(record.output).toContain("activity 'work' in its place");
  });

  it('runs a sub-orchestration and delivers an event raised before the wait', async () => {
    await start('parent', 'par', { value: 'v1' });
    const raised = await fetch(`${backend.rpcBaseUrl}instances/par/raiseEvent/approve`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ by: 'alice' }),
    });
    expect(raised.status).toBe(202);
    const record = await backend.engine.waitForCompletion('par');
    expect(JSON.parse(record.output!)).toEqual({ child: 'child saw v1', approval: { by: 'alice' } });
    const child = await store.readInstance('par:0');
    expect(child).toMatchObject({ name: 'child', runtimeStatus: 'Completed', parentInstanceId: 'par' });
  });

  it('shows custom status while waiting for an external event and completes with its data', async () => {
    await start('waiter', 'wait', null);
    await expect.poll(async () => (await status('wait')).customStatus).toBe('waiting');
    expect((await status('wait')).runtimeStatus).toBe('Running');
    await fetch(`${backend.rpcBaseUrl}instances/wait/raiseEvent/go`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(42),
    });
    const record = await backend.engine.waitForCompletion('wait');
    expect(JSON.parse(record.output!)).toEqual({ got: 42 });
    expect(JSON.parse(record.customStatus!)).toBe('got it');
  });

  it('terminates, suspends and resumes instances and answers 410 for finished ones', async () => {
    await start('waiter', 'term', null);
    await expect.poll(async () => (await status('term')).runtimeStatus).toBe('Running');
    const suspend = await fetch(`${backend.rpcBaseUrl}instances/term/suspend?reason=pause`, {
      method: 'POST',
    });
    expect(suspend.status).toBe(202);
    await expect.poll(async () => (await status('term')).runtimeStatus).toBe('Suspended');
    await fetch(`${backend.rpcBaseUrl}instances/term/resume?reason=go`, { method: 'POST' });
    await expect.poll(async () => (await status('term')).runtimeStatus).toBe('Running');
    const terminate = await fetch(`${backend.rpcBaseUrl}instances/term/terminate?reason=stop`, {
      method: 'POST',
    });
    expect(terminate.status).toBe(202);
    const record = await backend.engine.waitForCompletion('term');
    expect(record.runtimeStatus).toBe('Terminated');
    expect(JSON.parse(record.output!)).toBe('stop');
    expect(
      (await fetch(`${backend.rpcBaseUrl}instances/term/terminate?reason=again`, { method: 'POST' })).status,
    ).toBe(410);
    expect((await fetch(`${backend.rpcBaseUrl}instances/missing/terminate`, { method: 'POST' })).status).toBe(
      404,
    );
  });

  it('refuses payloads above the limit, naming the instance and the payload', async () => {
    const tooBig = await start('bigOutput', 'big-in', { bytes: 1, pad: 'z'.repeat(20_000) });
    expect(tooBig.status).toBe(413);
    expect(await tooBig.text()).toContain("the orchestration input of instance 'big-in'");

    await start('bigOutput', 'big-out', { bytes: 20_000 });
    const out = await backend.engine.waitForCompletion('big-out');
    expect(out.runtimeStatus).toBe('Failed');
    expect(out.output).toContain("the orchestration output of instance 'big-out' is 20002 bytes");

    await start('bigOutput', 'big-act', { bytes: 20_000, viaActivity: true });
    const act = await backend.engine.waitForCompletion('big-act');
    expect(JSON.parse(act.output!)).toContain("the result of activity 'bigResult' of instance 'big-act'");
  });

  it('fails loudly when an orchestrator uses Durable entities', async () => {
    await start('usesEntity', 'ent', null);
    const record = await backend.engine.waitForCompletion('ent');
    expect(record.runtimeStatus).toBe('Failed');
    expect(record.output).toContain('Durable entities');
    expect(record.output).toContain('not supported by the local Durable backend');
  });

  it('lists by filter with paging and purges one and by filter', async () => {
    const list = await fetch(`${backend.rpcBaseUrl}instances/?runtimeStatus=Completed&top=2`);
    expect(list.status).toBe(200);
    expect(list.headers.get('x-ms-continuation-token')).toBeTruthy();
    const page = (await list.json()) as { runtimeStatus: string }[];
    expect(page).toHaveLength(2);
    expect(page.every((i) => i.runtimeStatus === 'Completed')).toBe(true);

    const prefixed = (await (
      await fetch(`${backend.rpcBaseUrl}instances/?instanceIdPrefix=big-`)
    ).json()) as unknown[];
    expect(prefixed).toHaveLength(2);

    expect((await fetch(`${backend.rpcBaseUrl}instances/nd`, { method: 'DELETE' })).status).toBe(200);
    expect((await fetch(`${backend.rpcBaseUrl}instances/nd`)).status).toBe(404);
    expect((await fetch(`${backend.rpcBaseUrl}instances/nd`, { method: 'DELETE' })).status).toBe(404);

    const purge = await fetch(
      `${backend.rpcBaseUrl}instances/?createdTimeFrom=2000-01-01T00:00:00Z&runtimeStatus=Failed`,
      {
        method: 'DELETE',
      },
    );
    expect(await purge.json()).toEqual({ instancesDeleted: 2 });
    expect(await store.readInstance('ent')).toBeUndefined();
  });

  it('provides the durableClient binding data the client library expects', () => {
    const fn = host.getFunction('manage')!;
    const data = host.getInputProvider('durableClient')!(
      fn,
      'durableClient',
      fn.bindings.durableClient!,
    ) as Record<string, Record<string, string>>;
    expect(data.taskHubName).toBe('EngineHub');
    expect(data.rpcBaseUrl).toBe(backend.rpcBaseUrl);
    expect(data.managementUrls!.statusQueryGetUri).toBe(
      'http://127.0.0.1:7071/runtime/webhooks/durabletask/instances/INSTANCEID?taskHub=EngineHub&connection=Storage',
    );
    expect(data.creationUrls!.createNewInstancePostUri).toContain(
      '/orchestrators/{functionName}[/{instanceId}]',
    );
    expect(EventType.TaskScheduled).toBe(4);
  });
});

/** A store that "kills the host" once armed: the next inbox deletion fails, as if the process died there. */
class CrashingStore extends MemoryStore {
  crashOnDelete = false;
  crashes = 0;
  override deleteMessages(instanceId: string, ids: string[]): Promise<void> {
    if (!this.crashOnDelete) return super.deleteMessages(instanceId, ids);
    this.crashOnDelete = false;
    this.crashes += 1;
    return Promise.reject(new Error('host killed after the commit, before the inbox delete'));
  }
}

function engineOn(store: MemoryStore): DurableEngine {
  return new DurableEngine({
    host,
    store,
    maxConcurrentActivities: 4,
    maxConcurrentOrchestrations: 4,
    maxPayloadBytes: 10_000,
    log: (message) => logs.push(message),
  });
}

describe('DurableEngine restart', () => {
  it('applies an external event once when the host died between the commit and the inbox delete', async () => {
    const crashing = new CrashingStore();
    const first = engineOn(crashing);
    await first.start();
    await first.startNew('eventCounter', 'once', undefined);
    await first.idle();
    expect((await crashing.readInstance('once'))!.customStatus).toBe('"waiting"');

    crashing.crashOnDelete = true;
    await first.raiseEvent('once', 'tick', '1');
    await first.idle();
    await first.stop();
    expect(crashing.crashes).toBe(1);
    // The crash window: the EventRaised is committed to history and still in the inbox.
    const committed = await crashing.readInstance('once');
    const rows = await crashing.readHistory('once', committed!.executionId, committed!.historyLength);
    expect(rows.filter((r) => r.event.EventType === EventType.EventRaised)).toHaveLength(1);
    expect((await crashing.listMessages()).filter((m) => m.kind === 'event')).toHaveLength(1);

    const second = engineOn(crashing);
    await second.start();
    await second.idle();
    await second.raiseEvent('once', 'done', 'null');
    const record = await second.waitForCompletion('once', 10_000);
    await second.stop();
    expect(record.runtimeStatus).toBe('Completed');
    expect(JSON.parse(record.output!)).toEqual({ count: 1 });
    expect(await crashing.listMessages()).toEqual([]);
  });
});

describe('DurableEngine.startNew', () => {
  /** Settles `n` concurrent starts of one id; returns the winners' records and the losers' errors. */
  async function race(instanceId: string, n: number) {
    const results = await Promise.allSettled(
      Array.from({ length: n }, (_, i) => backend.engine.startNew('waiter', instanceId, JSON.stringify(i))),
    );
    const won = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const lost = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as Error] : []));
    return { won, lost };
  }

  async function executionStarts(instanceId: string): Promise<number> {
    const record = (await store.readInstance(instanceId))!;
    const rows = await store.readHistory(instanceId, record.executionId, record.historyLength);
    return rows.filter((r) => r.event.EventType === EventType.ExecutionStarted).length;
  }

  it('lets exactly one of concurrent starts of one id win, for a new and for a finished instance', async () => {
    const first = await race('once-only', 8);
    expect(first.won).toHaveLength(1);
    expect(first.lost).toHaveLength(7);
    expect(first.lost.every((e) => e instanceof InstanceExistsError)).toBe(true);
    await expect.poll(async () => (await status('once-only')).customStatus).toBe('waiting');
    const running = (await store.readInstance('once-only'))!;
    expect(running.executionId).toBe(first.won[0]!.executionId);
    expect(running.input).toBe(first.won[0]!.input);
    expect(await executionStarts('once-only')).toBe(1);
    // Through the HTTP API a start of the running instance is a 409, as in the extension.
    const again = await start('waiter', 'once-only', null);
    expect(again.status).toBe(409);
    expect(await again.text()).toContain("instance ID 'once-only' already exists");
    await backend.engine.raiseEvent('once-only', 'go', '1');
    expect((await backend.engine.waitForCompletion('once-only')).runtimeStatus).toBe('Completed');

    // Re-creating the finished instance: one start replaces it (If-Match on the row read), the rest lose.
    const second = await race('once-only', 8);
    expect(second.won).toHaveLength(1);
    expect(second.lost.every((e) => e instanceof InstanceExistsError)).toBe(true);
    expect(second.lost).toHaveLength(7);
    await expect.poll(async () => (await status('once-only')).customStatus).toBe('waiting');
    expect((await store.readInstance('once-only'))!.executionId).toBe(second.won[0]!.executionId);
    expect(await executionStarts('once-only')).toBe(1);
    await backend.engine.raiseEvent('once-only', 'go', '2');
    const done = await backend.engine.waitForCompletion('once-only');
    expect(JSON.parse(done.output!)).toEqual({ got: 2 });
  });
});
