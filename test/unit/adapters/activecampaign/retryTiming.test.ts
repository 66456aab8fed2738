import { describe, expect, it } from 'vitest';

import {
  backoffDelay,
  DEFAULT_RETRY_POLICY,
  parseRetryAfter,
  retryDelay,
} from '../../../../shared/adapters/activecampaign/retryTiming';

const now = Date.UTC(2025, 0, 1, 12, 0, 0);

describe('parseRetryAfter', () => {
  it('reads delay-seconds when the header is an integer', () => {
    expect(parseRetryAfter('3', now)).toBe(3000);
    expect(parseRetryAfter(' 0 ', now)).toBe(0);
  });

  it('waits until an HTTP-date when the header is a date', () => {
    expect(parseRetryAfter(new Date(now + 5000).toUTCString(), now)).toBe(5000);
  });

  it('returns zero when the HTTP-date is in the past', () => {
    expect(parseRetryAfter(new Date(now - 5000).toUTCString(), now)).toBe(0);
  });

  it('returns undefined when the header is missing, negative, fractional or garbage', () => {
    for (const value of [null, undefined, '-1', '1.5', 'soon', ''])
      expect(parseRetryAfter(value, now)).toBeUndefined();
  });
});

describe('backoffDelay', () => {
  it('stays below base·2^(attempt−1) when jitter is at its maximum', () => {
    expect(backoffDelay(1, DEFAULT_RETRY_POLICY, () => 0.999)).toBe(499);
    expect(backoffDelay(3, DEFAULT_RETRY_POLICY, () => 0.999)).toBe(1998);
  });

  it('caps at maxDelayMs when the attempt count is large', () => {
    expect(backoffDelay(30, DEFAULT_RETRY_POLICY, () => 0.999)).toBe(29_970);
  });

  it('can be zero when jitter is zero (full jitter)', () => {
    expect(backoffDelay(4, DEFAULT_RETRY_POLICY, () => 0)).toBe(0);
  });
});

describe('retryDelay', () => {
  it('never waits less than Retry-After when the server stated one', () => {
    expect(retryDelay(1, 2000, DEFAULT_RETRY_POLICY, () => 0)).toBe(2000);
    expect(retryDelay(1, 2000, DEFAULT_RETRY_POLICY, () => 0.999)).toBeLessThan(
      2000 + DEFAULT_RETRY_POLICY.baseDelayMs,
    );
  });

  it('falls back to jittered backoff when there is no Retry-After', () => {
    expect(retryDelay(2, undefined, DEFAULT_RETRY_POLICY, () => 0.5)).toBe(500);
  });
});
