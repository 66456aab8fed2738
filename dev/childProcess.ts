/** Helpers for the child processes the dev stack starts (Azurite, the Functions host). */
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';

/** Sends SIGTERM, escalates to SIGKILL after `graceMs`, and resolves once the process has exited. */
export async function stopChildProcess(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}
