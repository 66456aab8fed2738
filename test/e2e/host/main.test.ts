import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';

import { afterEach, beforeAll, describe, expect, it } from 'vitest';

import { hostFixtures } from './helpers';

const root = path.resolve(__dirname, '../../..');
const entry = path.join(root, 'dist/dev/host/main.js');

/** The newest modification time of the host sources, to refuse testing a stale build. */
function newestSourceMtime(dir: string): number {
  let newest = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestSourceMtime(p));
    else if (e.name.endsWith('.ts')) newest = Math.max(newest, fs.statSync(p).mtimeMs);
  }
  return newest;
}

function collect(child: ChildProcess): { out: () => string; err: () => string } {
  let out = '';
  let err = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  return { out: () => out, err: () => err };
}

async function waitForLine(
  read: () => string,
  pattern: RegExp,
  child: ChildProcess,
): Promise<RegExpMatchArray> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const m = pattern.exec(read());
    if (m) return m;
    if (child.exitCode !== null) throw new Error(`host exited with ${child.exitCode}:\n${read()}`);
    if (Date.now() > deadline) throw new Error(`no line matching ${pattern} in:\n${read()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('node dist/dev/host/main.js', () => {
  let child: ChildProcess | undefined;

  beforeAll(() => {
    if (
      !fs.existsSync(entry) ||
      fs.statSync(entry).mtimeMs < newestSourceMtime(path.join(root, 'dev/host'))
    ) {
      throw new Error('dist/dev/host is missing or older than dev/host: run `npm run build` first.');
    }
  });

  afterEach(() => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    child = undefined;
  });

  it('prints the ready line, answers HTTP and stops cleanly on SIGTERM', async () => {
    child = spawn(process.execPath, [entry, '--app', path.join(hostFixtures, 'timer-app'), '--port', '0'], {
      env: { ...process.env, TIMER_SCHEDULE: '0 0 0 1 1 *' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const io = collect(child);
    const [, url] = await waitForLine(io.out, /^HOST READY (http:\/\/127\.0\.0\.1:\d+)$/m, child);
    expect(await (await fetch(`${url}/ping`)).text()).toBe('pong');
    // context.log output reaches stdout with the function name and invocation id.
    expect(io.out()).toMatch(/\[Functions\.atStartup\] \[[0-9a-f-]{36}\] STARTUP RUN/);

    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const [code] = (await exited) as [number | null];
    expect(code).toBe(0);
    await expect(fetch(`${url}/ping`)).rejects.toThrow();
  });

  it('exits non-zero naming the function and trigger when the app uses an unsupported trigger', async () => {
    child = spawn(process.execPath, [entry, '--app', path.join(hostFixtures, 'unsupported'), '--port', '0'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const io = collect(child);
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code).toBe(1);
    expect(io.err()).toContain('HOST FAILED');
    expect(io.err()).toContain('Function "queueWorker" uses trigger type "queueTrigger"');
    expect(io.out()).not.toContain('HOST READY');
  });

  it('exits non-zero when the app turns on HTTP streaming', async () => {
    child = spawn(process.execPath, [entry, '--app', path.join(hostFixtures, 'streaming'), '--port', '0'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const io = collect(child);
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code).toBe(1);
    expect(io.err()).toContain('enables HTTP streaming');
  });
});
