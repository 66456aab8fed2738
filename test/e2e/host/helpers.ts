/** Helpers for the local host's end-to-end tests. */
import path from 'node:path';

import type { HostLogEntry } from '../../../dev/host/logger';

export const hostFixtures = path.resolve(__dirname, '../../fixtures/host-app');

/** A logger that keeps entries for assertions. */
export function captureLogs(): { entries: HostLogEntry[]; logger: (entry: HostLogEntry) => void } {
  const entries: HostLogEntry[] = [];
  return { entries, logger: (entry) => entries.push(entry) };
}

/** Polls `check` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function waitFor<T>(check: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
