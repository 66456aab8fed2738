/**
 * The Durable backend end to end: a real host process (test/e2e/durable/harness.ts around dev/host and
 * dev/durable) with history in the shared Azurite, killed with SIGKILL in the middle of a fan-out and
 * restarted; and the management API driven through an HTTP function using df.getClient().
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import { azuriteConnectionString } from '../../helpers/azurite';

const appDir = path.resolve(__dirname, '../../fixtures/durable-app');
const harness = path.resolve(__dirname, 'harness.ts');
const children: ChildProcess[] = [];

interface Running {
  child: ChildProcess;
  url: string;
  rpc: string;
}

async function startHarness(hub: string): Promise<Running> {
  const child = spawn(process.execPath, ['--import', 'tsx', harness, appDir], {
    env: {
      ...process.env,
      AzureWebJobsStorage: azuriteConnectionString(),
      DURABLE_TASK_HUB_NAME: hub,
      WEBSITE_HOSTNAME: '',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`harness did not start:\n${output}`)), 30_000);
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /HARNESS READY (\S+) (\S+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve({ child, url: match[1]!, rpc: match[2]! });
      }
    });
    child.once('exit', (code) => reject(new Error(`harness exited with ${code}:\n${output}`)));
  });
}

async function stopHarness(running: Running, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (running.child.exitCode !== null || running.child.signalCode !== null) return;
  const exited = once(running.child, 'exit');
  running.child.kill(signal);
  await exited;
}

afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
    }
  }
});

async function poll<T>(check: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function lines(file: string): string[] {
  return existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean) : [];
}

describe('Durable backend (host process)', () => {
  it('resumes a fan-out after SIGKILL, re-running only the activities that were in flight', async () => {
    const hub = `Kill${randomUUID().slice(0, 8)}`;
    const dir = mkdtempSync(path.join(tmpdir(), 'durable-kill-'));
    const logFile = path.join(dir, 'work.log');
    const first = await startHarness(hub);
    const started = await fetch(`${first.rpc}orchestrators/fanOut/kill`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ count: 200, logFile, delayMs: 20, timerMs: 10 }),
    });
    expect(started.status).toBe(202);
    await poll(
      () => Promise.resolve(lines(logFile).filter((l) => l.startsWith('end')).length >= 60 ? true : undefined),
      30_000,
      '60 activities',
    );
    await stopHarness(first, 'SIGKILL');
    const firstPid = String(first.child.pid);
    const beforeKill = lines(logFile);
    const startedBeforeKill = new Set(
      beforeKill.filter((l) => l.startsWith('start')).map((l) => l.split(' ')[1]),
    );

    const second = await startHarness(hub);
    const done = await poll(
      async () => {
        const res = await fetch(`${second.rpc}instances/kill`);
        const body = (await res.json()) as { runtimeStatus: string; output: unknown };
        return body.runtimeStatus === 'Completed' ? body : undefined;
      },
      60_000,
      'completion after restart',
    );
    expect(done.output).toEqual({ generation: 0, sum: 39_800, retried: 'skipped' });

    const all = lines(logFile);
    const starts = all.filter((l) => l.startsWith('start'));
    const perIndex = new Map<string, number>();
    for (const line of starts)
      perIndex.set(line.split(' ')[1]!, (perIndex.get(line.split(' ')[1]!) ?? 0) + 1);
    expect(perIndex.size).toBe(200);
    const rerun = [...perIndex].filter(([, n]) => n > 1).map(([i]) => i);
    // Re-runs are exactly activities that had started in the killed process and whose result was not yet
    // persisted: at most host.json's maxConcurrentActivityFunctions (8) of them.
    expect(rerun.length).toBeLessThanOrEqual(8);
    for (const index of rerun) expect(startedBeforeKill.has(index)).toBe(true);
    expect([...perIndex.values()].every((n) => n <= 2)).toBe(true);
    // Most of the work done before the kill was kept.
    const endedBeforeKill = beforeKill.filter((l) => l.startsWith('end') && l.endsWith(firstPid)).length;
    expect(starts.length).toBeLessThanOrEqual(200 + 8);
    expect(endedBeforeKill).toBeGreaterThanOrEqual(60);
    await stopHarness(second);
  }, 120_000);

  it('serves the management API to df.getClient() and createCheckStatusResponse links', async () => {
    const running = await startHarness(`Api${randomUUID().slice(0, 8)}`);
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

    // Terminate a second instance through the client and the sendEvent/terminate links work too.
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
    expect(payload.statusQueryGetUri).toBe(
      `${running.url}/runtime/webhooks/durabletask/instances/abc?taskHub=${(payload.statusQueryGetUri as string).split('taskHub=')[1]!.split('&')[0]}&connection=Storage`,
    );
    await stopHarness(running);
  }, 90_000);
});
