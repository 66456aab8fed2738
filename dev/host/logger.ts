/**
 * Host logging: one line per entry, in the spirit of Core Tools'
 * console output: `[timestamp] [level] [Functions.name] [invocationId] message`. Everything goes to stdout,
 * as with `func start`, so one stream carries the whole story of a run.
 */
import type { RpcLogLevel } from './coreTypes';

export interface HostLogEntry {
  level: RpcLogLevel;
  /** 'host' for the host's own messages, 'user' for `context.log`, 'system' for worker/library messages. */
  category: 'host' | 'user' | 'system' | 'customMetric';
  message: string;
  functionName?: string;
  invocationId?: string;
}

export type HostLogger = (entry: HostLogEntry) => void;

const LEVEL_ORDER: Record<RpcLogLevel, number> = {
  trace: 0,
  debug: 1,
  information: 2,
  warning: 3,
  error: 4,
  critical: 5,
  none: 6,
};

/** Formats an entry as one console line. */
export function formatLogEntry(entry: HostLogEntry, now: Date = new Date()): string {
  const parts = [`[${now.toISOString()}]`, `[${entry.level}]`];
  if (entry.functionName) parts.push(`[Functions.${entry.functionName}]`);
  if (entry.invocationId) parts.push(`[${entry.invocationId}]`);
  parts.push(entry.message);
  return parts.join(' ');
}

/** A logger writing entries at or above `minLevel` to stdout. */
export function createConsoleLogger(minLevel: RpcLogLevel = 'information'): HostLogger {
  const threshold = LEVEL_ORDER[minLevel];
  return (entry) => {
    if (LEVEL_ORDER[entry.level] < threshold) return;
    process.stdout.write(formatLogEntry(entry) + '\n');
  };
}
