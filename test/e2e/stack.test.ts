import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(__dirname, '../..');

describe('npm start (dev/stack/start)', () => {
  let child: ChildProcess;
  let output = '';
  let url = '';
  let dataDir = '';

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'stack-test-'));
    // Fixed default ports may be taken on a shared machine: every port 0, data on disk in a temp folder.
    child = spawn(
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
    child.stdout?.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr?.on('data', (c: Buffer) => (output += c.toString()));
    url = await new Promise<string>((resolve, reject) => {
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
  }, 120_000);

  afterAll(async () => {
    if (child && child.exitCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGINT');
      await exited;
    }
    await rm(dataDir, { recursive: true, force: true });
  });

  it('prints the URL of every component when ready', () => {
    expect(output).toMatch(/Functions host\s+http:\/\/127\.0\.0\.1:\d+\/api\//);
    expect(output).toMatch(/Azurite blob\s+http:\/\/127\.0\.0\.1:\d+\/devstoreaccount1/);
    expect(output).toMatch(/Key Vault emulator\s+https:\/\/127\.0\.0\.1:\d+/);
    expect(output).toMatch(/ActiveCampaign sandbox\s+http:\/\/127\.0\.0\.1:\d+/);
  });

  it('answers an HTTP function of the app with a valid configuration', async () => {
    const response = await fetch(`${url}/api/health`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ ok: true, configIssues: [] });
  });

  it('stops every component on SIGINT', async () => {
    const exited = once(child, 'exit');
    child.kill('SIGINT');
    const [code] = (await exited) as [number | null];
    expect(code).toBe(0);
    await expect(fetch(`${url}/api/health`)).rejects.toThrow();
  });
});
