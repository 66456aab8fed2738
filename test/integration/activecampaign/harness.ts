/** Shared set-up for the ActiveCampaign contract tests: a sandbox, a client wired to it, window checks. */
import type { LoggedRequest, RunningSandbox } from '../../../dev/sandbox/server';
import {
  ActiveCampaignClient,
  type ActiveCampaignClientOptions,
  type ActiveCampaignLogger,
  DEFAULT_RATE_LIMITS,
  InProcessRateBudget,
} from '../../../shared/adapters/activecampaign';

/** A logger that keeps every line, to check what reached the logs. */
export function capturingLogger(): ActiveCampaignLogger & { lines: string[] } {
  const lines: string[] = [];
  const keep = (...args: unknown[]) =>
    lines.push(args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' '));
  return { lines, info: keep, warn: keep, error: keep };
}

/**
 * A client for the sandbox's first account, on the sandbox's clock. It gets its own budget unless one is
 * given: the process-wide registry is keyed by host, and a later sandbox may reuse an earlier one's port.
 */
export function clientFor(
  sandbox: RunningSandbox,
  overrides: Partial<ActiveCampaignClientOptions> = {},
): ActiveCampaignClient {
  return new ActiveCampaignClient({
    host: sandbox.hostForClient,
    apiKey: sandbox.apiKey,
    hostRule: { allowedSuffixes: ['.api-us1.com'], allowLoopbackHttp: true },
    clock: sandbox.clock,
    retry: { baseDelayMs: 200, maxDelayMs: 5_000 },
    // 15 real ms of send-path jitter (client and sandbox share a busy event loop), in sandbox ms.
    budget: new InProcessRateBudget(sandbox.clock, {
      ...DEFAULT_RATE_LIMITS,
      jitterAllowanceMs: 15 * sandbox.clock.timeScale,
    }),
    ...overrides,
  });
}

/** The most requests in any window (t − span, t] over the given timestamps (sorted ascending). */
export function maxInWindow(times: readonly number[], span: number): number {
  let max = 0;
  let start = 0;
  for (let end = 0; end < times.length; end++) {
    while ((times[start] ?? 0) <= (times[end] ?? 0) - span) start++;
    max = Math.max(max, end - start + 1);
  }
  return max;
}

/** Arrival times of every authenticated API request, refused ones included (what the client attempted). */
export function rpsTimes(log: readonly LoggedRequest[]): number[] {
  return log
    .filter((r) => r.account !== undefined)
    .map((r) => r.at)
    .sort((a, b) => a - b);
}

/** Arrival times of multi-contact bulk imports the sandbox counted against the per-minute window. */
export function bulkTimes(log: readonly LoggedRequest[]): number[] {
  return log.filter((r) => r.bulkCounted && (r.contacts ?? 0) > 1).map((r) => r.at);
}
