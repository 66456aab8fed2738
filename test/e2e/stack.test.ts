import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(__dirname, '../..');

interface StartedStack {
  child: ChildProcess;
  url: string;
  output: () => string;
  dataDir: string;
}

/** Starts `dist/dev/stack/start.js` on free ports with data in a temp folder; resolves at STACK READY. */
async function startStackProcess(): Promise<StartedStack> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'stack-test-'));
  // Fixed default ports may be taken on a shared machine: every port 0, data on disk in a temp folder.
  const child = spawn(
    process.execPath,
    [
      path.join(ROOT, 'dist/dev/stack/start.js'),
      '--data-dir',
      dataDir,
      '--port',
      '0',
      '--azurite-port',
      '0',
      '--keyvault-port',
      '0',
      '--sandbox-port',
      '0',
    ],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout?.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (output += c.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`stack not ready in 90 s:\n${output}`)), 90_000);
    const check = () => {
      const ready = /STACK READY (\S+)/.exec(output);
      if (ready) {
        clearTimeout(timer);
        resolve(ready[1]!);
      }
    };
    child.stdout?.on('data', check);
    child.once('exit', (code) => reject(new Error(`stack exited with ${code}:\n${output}`)));
  });
  return { child, url, output: () => output, dataDir };
}

async function stopStackProcess(stack: StartedStack | undefined): Promise<void> {
  if (!stack) return;
  if (stack.child.exitCode === null && stack.child.signalCode === null) {
    const exited = once(stack.child, 'exit');
    stack.child.kill('SIGINT');
    await exited;
  }
  await rm(stack.dataDir, { recursive: true, force: true });
}

describe('npm start (dev/stack/start)', () => {
  let stack: StartedStack;

  beforeAll(async () => {
    stack = await startStackProcess();
  }, 120_000);

  afterAll(() => stopStackProcess(stack));

  it('prints the URL of every component when ready', () => {
    const output = stack.output();
    expect(output).toMatch(/Functions host\s+http:\/\/127\.0\.0\.1:\d+\/api\//);
    expect(output).toMatch(/Admin page\s+http:\/\/127\.0\.0\.1:\d+\/api\/ui\//);
    expect(output).toMatch(/Azurite blob\s+http:\/\/127\.0\.0\.1:\d+\/devstoreaccount1/);
    expect(output).toMatch(/Key Vault emulator\s+https:\/\/127\.0\.0\.1:\d+/);
    expect(output).toMatch(/ActiveCampaign sandbox\s+http:\/\/127\.0\.0\.1:\d+/);
  });

  it('answers an HTTP function of the app with a valid configuration', async () => {
    const response = await fetch(`${stack.url}/api/health`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ ok: true, configIssues: [] });
  });

  it('stops every component on SIGINT', async () => {
    const exited = once(stack.child, 'exit');
    stack.child.kill('SIGINT');
    const [code] = (await exited) as [number | null];
    expect(code).toBe(0);
    await expect(fetch(`${stack.url}/api/health`)).rejects.toThrow();
  });
});

describe('npm start when the Functions host dies', () => {
  let stack: StartedStack | undefined;

  afterAll(() => stopStackProcess(stack));

  it('stops the whole stack and exits non-zero instead of staying "ready"', async () => {
    stack = await startStackProcess();
    const pid = Number(/pid (\d+)\)/.exec(stack.output())?.[1]);
    expect(pid).toBeGreaterThan(0);
    const exited = once(stack.child, 'exit');
    process.kill(pid, 'SIGKILL');
    const [code] = (await exited) as [number | null];
    expect(code).toBe(1);
    expect(stack.output()).toContain('The Functions host exited unexpectedly (SIGKILL)');
  }, 120_000);
});
