/**
 * Runs the real local host process for the Durable end-to-end tests:
 *   node dist/dev/host/main.js --app test/fixtures/durable-app --port 0
 * (built by `npm run build`), with `AzureWebJobsStorage` on the run-wide Azurite and the task hub named by
 * the test (host.json says `"hubName": "%DURABLE_TASK_HUB_NAME%"`). The host serves
 * `/runtime/webhooks/durabletask/*` itself, so the tests talk to its origin only.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

import { azuriteConnectionString } from '../../helpers/azurite';

const repoRoot = path.resolve(__dirname, '../../..');
/** The process entry, as `npm run build` emits it. */
export const hostEntry = path.join(repoRoot, 'dist/dev/host/main.js');
export const durableAppDir = path.join(repoRoot, 'test/fixtures/durable-app');

/** A unique task hub name (letters and digits, 3-45 characters) so tests never see each other's instances. */
export function uniqueHub(prefix: string): string {
  return `${prefix}${randomUUID().replace(/-/g, '').slice(0, 12)}`;
}

export interface HostProcess {
  child: ChildProcess;
  /** e.g. http://127.0.0.1:40123 (from the `HOST READY <url>` line). */
  url: string;
  /** Everything the process wrote so far (stdout and stderr), for failure messages. */
  output(): string;
  /** SIGKILL: no clean-up, no flush — a crashed or recycled worker. Resolves once the process is gone. */
  kill(): Promise<void>;
  /** SIGTERM and wait for the exit (clean stop). */
  stop(): Promise<void>;
}

const started = new Set<ChildProcess>();

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

async function signal(child: ChildProcess, sig: NodeJS.Signals): Promise<void> {
  if (exited(child)) return;
  const gone = once(child, 'exit');
  child.kill(sig);
  await gone;
}

export interface StartOptions {
  /** How long to wait for `HOST READY`; default 30 s (a busy two-core machine). */
  timeoutMs?: number;
  /** The process entry; default `hostEntry` (tests of this harness point it elsewhere). */
  entry?: string;
  /** The app to run; default the Durable fixture app. */
  appDir?: string;
  /** Settings added to the environment. */
  env?: Record<string, string>;
  /** More command-line arguments for the host. */
  args?: string[];
}

/** Starts the host process entry on `hub` and resolves once it printed `HOST READY <url>`. */
export async function startHostProcess(hub: string, options: StartOptions = {}): Promise<HostProcess> {
  const entry = options.entry ?? hostEntry;
  const timeoutMs = options.timeoutMs ?? 30_000;
  if (!existsSync(entry)) {
    throw new Error(
      `${path.relative(repoRoot, entry)} is missing: run npm run build first (npm test does it before vitest).`,
    );
  }
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    AzureWebJobsStorage: azuriteConnectionString(),
    ...options.env,
    DURABLE_TASK_HUB_NAME: hub,
  };
  // The backend derives WEBSITE_HOSTNAME from the host's own origin when it is unset (management links).
  delete env.WEBSITE_HOSTNAME;
  const child = spawn(
    process.execPath,
    [
      entry,
      '--app',
      path.relative(repoRoot, options.appDir ?? durableAppDir) || '.',
      '--port',
      '0',
      ...(options.args ?? []),
    ],
    { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  started.add(child);
  child.once('exit', () => started.delete(child));
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      void signal(child, 'SIGKILL');
      reject(new Error(`host process did not print HOST READY within ${timeoutMs} ms:\n${output}`));
    }, timeoutMs);
    const onData = () => {
      const match = /HOST READY (\S+)/.exec(output);
      if (!match) return;
      clearTimeout(timer);
      child.stdout.off('data', onData);
      resolve(match[1]!);
    };
    child.stdout.on('data', onData);
    child.once('exit', (code, sig) => {
      clearTimeout(timer);
      reject(new Error(`host process exited (${code ?? sig}) before it was ready:\n${output}`));
    });
  });
  return {
    child,
    url,
    output: () => output,
    kill: () => signal(child, 'SIGKILL'),
    stop: () => signal(child, 'SIGTERM'),
  };
}

/** SIGKILLs every host process a test started and left running (call from afterEach). */
export async function killAllHostProcesses(): Promise<void> {
  await Promise.all([...started].map((child) => signal(child, 'SIGKILL')));
}

/** Polls `check` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function poll<T>(
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs: number,
  what: string,
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** The non-empty lines of a file, or none when it does not exist yet. */
export function fileLines(file: string): string[] {
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
}

/** Instance status as the `/runtime/webhooks/durabletask/instances/{id}` webhook serves it. */
export interface WebhookStatus {
  name: string;
  instanceId: string;
  runtimeStatus: string;
  input: unknown;
  output: unknown;
  customStatus: unknown;
  createdTime: string;
  lastUpdatedTime: string;
}

/** Reads an instance's status through the host's own webhook route. */
export async function webhookStatus(hostUrl: string, instanceId: string): Promise<WebhookStatus> {
  const res = await fetch(
    `${hostUrl}/runtime/webhooks/durabletask/instances/${encodeURIComponent(instanceId)}`,
  );
  if (res.status !== 200 && res.status !== 202)
    throw new Error(`status of ${instanceId}: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as WebhookStatus;
}

/** Starts an orchestration through the fixture's HTTP function (df.getClient().startNew) and returns its id. */
export async function startOrchestration(hostUrl: string, name: string, input: unknown): Promise<string> {
  const res = await fetch(`${hostUrl}/api/orchestrators/${name}`, {
    method: 'POST',
    body: JSON.stringify(input),
  });
  if (res.status !== 202) throw new Error(`start ${name}: HTTP ${res.status} ${await res.text()}`);
  return ((await res.json()) as { id: string }).id;
}
