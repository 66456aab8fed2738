/**
 * Retry timing for `callActivityWithRetry` / `callSubOrchestratorWithRetry`, computed as DTFx's
 * `RetryOptions`/`RetryInterceptor` do: after failed attempt n (0-based) wait
 * `firstRetryInterval * backoffCoefficient^n`, capped at `maxRetryInterval`; no further attempt once
 * `retryTimeout` has passed since the first attempt. The executor (lib/src/task/RetryableTask.js) expects a
 * timer after *every* failure, then gives up once `maxNumberOfAttempts` failures were seen.
 */
import type { RetryOptionsWire } from './actions';

/** Delay in ms before the next attempt after `failures` failed attempts (failures >= 1). */
export function retryDelayMs(options: RetryOptionsWire, failures: number): number {
  const coefficient = options.backoffCoefficient ?? 1;
  const delay = options.firstRetryIntervalInMilliseconds * Math.pow(coefficient, failures - 1);
  const cap = options.maxRetryIntervalInMilliseconds;
  return cap !== undefined && cap > 0 ? Math.min(delay, cap) : delay;
}

/** True when the retry timeout (if any) has passed since the first attempt. */
export function retryTimedOut(options: RetryOptionsWire, firstAttemptAt: Date, now: Date): boolean {
  const timeout = options.retryTimeoutInMilliseconds;
  return timeout !== undefined && timeout > 0 && now.getTime() - firstAttemptAt.getTime() >= timeout;
}
