/**
 * When to retry a failed ActiveCampaign call. Pure functions; the client supplies the clock and randomness.
 * Modelled on ky's `source/core/retry-timing.ts`, narrowed to what ActiveCampaign sends.
 */

/** Retry tuning for one client. */
export interface RetryPolicy {
  /** Total attempts per call, including the first. */
  maxAttempts: number;
  /** Backoff base: attempt n waits a random time in [0, min(maxDelayMs, baseDelayMs·2^(n-1))). */
  baseDelayMs: number;
  maxDelayMs: number;
  /** A Retry-After longer than this is not waited for: the call fails (retryable) for the caller to reschedule. */
  maxRetryAfterMs: number;
  /**
   * How many times a bulk import may be sent again after its response was lost (a reset or a timeout once the
   * body may have reached ActiveCampaign). Each such resend may apply the same contacts again. Default 1: an
   * upsert applied twice with the same content changes nothing, and one resend recovers the common case of
   * one dropped answer (two in a row at a 5% loss rate: 0.25%); a third send could only add duplicates. Past
   * it the call fails with `OutcomeUnknownError` (see docs/activecampaign.md).
   */
  maxAmbiguousResends?: number;
}

/** Defaults: 6 attempts spread over about a minute, enough to ride out a short ActiveCampaign hiccup. */
export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  maxAttempts: 6,
  baseDelayMs: 500,
  maxDelayMs: 30_000,
  maxRetryAfterMs: 120_000,
  maxAmbiguousResends: 1,
};

const DELAY_SECONDS = /^\d+$/;

/**
 * Milliseconds to wait according to a `Retry-After` header value, or undefined when it says nothing usable.
 * `now` is the caller's clock, so an HTTP-date is read in the same time base the sandbox answers in.
 */
export function parseRetryAfter(value: string | null | undefined, now: number): number | undefined {
  if (value === null || value === undefined) return undefined;
  const trimmed = value.trim();
  // RFC 9110 §10.2.3, delay-seconds: a non-negative integer number of seconds. This is what ActiveCampaign
  // documents for its 429 (developers.activecampaign.com/reference/rate-limits).
  if (DELAY_SECONDS.test(trimmed)) return Number(trimmed) * 1000;
  // RFC 9110 §10.2.3, HTTP-date: wait until that instant; a date in the past means "retry now".
  // Date.parse accepts IMF-fixdate and the obsolete RFC 850 / asctime forms the RFC also allows.
  if (/[a-z]/i.test(trimmed)) {
    const at = Date.parse(trimmed);
    if (Number.isFinite(at)) return Math.max(0, at - now);
  }
  // Anything else (negative, fractional, garbage): ignore it and fall back to exponential backoff.
  return undefined;
}

/** Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter"). */
export function backoffDelay(attempt: number, policy: RetryPolicy, random: () => number): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.floor(random() * ceiling);
}

/**
 * The wait before the next attempt. A server-stated wait (Retry-After, or bulk import's one-minute window)
 * is honoured as a floor and a little jitter is added so that workers told the same instant don't stampede.
 */
export function retryDelay(
  attempt: number,
  retryAfterMs: number | undefined,
  policy: RetryPolicy,
  random: () => number,
): number {
  // No server hint: plain full-jitter backoff.
  if (retryAfterMs === undefined) return backoffDelay(attempt, policy, random);
  // Server hint: never earlier than asked, spread by up to 10% of the base delay.
  return retryAfterMs + Math.floor(random() * policy.baseDelayMs * 0.1);
}
