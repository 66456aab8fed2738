/** Runs the compiled export CLI (`dist/dev/cli/main.js`, from `npm run build`) as a user would. */
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

export const ROOT = path.resolve(__dirname, '../../..');
export const CLI = path.join(ROOT, 'dist/dev/cli/main.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The environment without the settings a developer's shell may have set for the app. */
export function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env = { ...(process.env as Record<string, string>) };
  for (const name of Object.keys(env)) {
    if (/^(ACTIVECAMPAIGN_|EXPORT_|SEGMENT_|SegmentStorage|KEY_VAULT_URL|AzureWebJobs)/.test(name))
      delete env[name];
  }
  // The test run's own emulator certificate has the same subject as the one the CLI makes: with both in one
  // bundle, OpenSSL may pick the wrong one and the host would not trust the CLI's emulator.
  delete env.NODE_EXTRA_CA_CERTS;
  return { ...env, ...extra };
}

/** Starts the CLI; `done` resolves with its exit code and output. */
export function startCli(
  args: string[],
  env: Record<string, string> = cleanEnv(),
): { child: ChildProcess; output(): string; done: Promise<CliResult> } {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const done = new Promise<CliResult>((resolve) =>
    child.once('close', (code) => resolve({ code, stdout, stderr })),
  );
  return { child, output: () => stdout + stderr, done };
}

/** Runs the CLI to its end. */
export function runCli(args: string[], env?: Record<string, string>): Promise<CliResult> {
  return startCli(args, env).done;
}

/** Every live descendant of `pid` (from /proc). */
export function descendants(pid: number): number[] {
  const parents = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parents.set(Number(entry), ppid);
    } catch {
      // The process ended while we looked.
    }
  }
  const found: number[] = [];
  const walk = (p: number) => {
    for (const [child, parent] of parents) {
      if (parent === p) {
        found.push(child);
        walk(child);
      }
    }
  };
  walk(pid);
  return found;
}

/** Whether a process is alive (and not a zombie). */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** Waits until `predicate` holds, polling. */
export async function until(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** `count` people as CSV (Email,FirstName,LastName); `changed(i)` marks first names changed. */
export function peopleCsv(count: number, changed: (i: number) => boolean = () => false): string {
  const rows = ['Email,FirstName,LastName'];
  for (let i = 0; i < count; i++) rows.push(`c${i}@example.com,First${i}${changed(i) ? 'x' : ''},Last${i}`);
  return `${rows.join('\r\n')}\r\n`;
}
