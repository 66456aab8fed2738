import { describe, expect, it } from 'vitest';

import { toActiveCampaignError } from '../../../../shared/adapters/activecampaign/client';
import {
  ActiveCampaignNotFoundError,
  AuthenticationError,
  RateLimitedError,
  ServerError,
  UnexpectedResponseError,
  ValidationFailedError,
} from '../../../../shared/adapters/activecampaign/errors';

const request = { method: 'POST', path: '/api/3/import/bulk_import', attempt: 1 };
const headers = (init: Record<string, string> = {}) => new Headers(init);
const now = Date.UTC(2025, 0, 1);

describe('toActiveCampaignError', () => {
  it('returns undefined when the status is 2xx', () => {
    expect(toActiveCampaignError(request, 200, headers(), {}, now)).toBeUndefined();
  });

  it('returns a permanent AuthenticationError when the status is 401 or 403', () => {
    for (const status of [401, 403]) {
      const error = toActiveCampaignError(request, status, headers(), { errors: [] }, now);
      expect(error).toBeInstanceOf(AuthenticationError);
      expect(error?.retryable).toBe(false);
      expect(error?.message).toContain('POST /api/3/import/bulk_import');
    }
  });

  it('returns a permanent not-found error naming ActiveCampaign’s message when the status is 404', () => {
    const error = toActiveCampaignError(
      request,
      404,
      headers(),
      { message: 'No Result found for _List with id 7' },
      now,
    );
    expect(error).toBeInstanceOf(ActiveCampaignNotFoundError);
    expect(error?.retryable).toBe(false);
    expect(error?.message).toContain('No Result found for _List with id 7');
  });

  it('returns a retryable RateLimitedError with Retry-After when the status is 429', () => {
    const error = toActiveCampaignError(request, 429, headers({ 'Retry-After': '2' }), {}, now);
    expect(error).toBeInstanceOf(RateLimitedError);
    expect(error?.retryable).toBe(true);
    expect((error as RateLimitedError).scope).toBe('requests_per_second');
    expect(error?.response?.retryAfterMs).toBe(2000);
  });

  it('reads bulk import’s 400 "Rate limit exceeded." as a one-minute rate limit', () => {
    const body = {
      success: 0,
      message: 'Rate limit exceeded.',
      failureReasons: [
        'Up to 100 imports may be requested per minute.Please batch contacts into larger requests',
      ],
    };
    const error = toActiveCampaignError(request, 400, headers(), body, now);
    expect(error).toBeInstanceOf(RateLimitedError);
    expect((error as RateLimitedError).scope).toBe('bulk_imports_per_minute');
    expect(error?.response?.retryAfterMs).toBe(60_000);
  });

  it('returns a permanent ValidationFailedError with failureReasons when a 400 rejects the payload', () => {
    const body = {
      success: 0,
      message: 'JSON payload did not pass validation.',
      failureReasons: [{ contact: 230, failureReason: "Field' email' incorrect format" }],
    };
    const error = toActiveCampaignError(request, 400, headers(), body, now);
    expect(error).toBeInstanceOf(ValidationFailedError);
    expect(error?.retryable).toBe(false);
    expect((error as ValidationFailedError).failureReasons).toEqual(body.failureReasons);
  });

  it('returns a permanent ValidationFailedError when the body is too large (413)', () => {
    expect(toActiveCampaignError(request, 413, headers(), { message: 'too large' }, now)).toBeInstanceOf(
      ValidationFailedError,
    );
  });

  it('returns a retryable ServerError when the status is 503 or another 5xx', () => {
    for (const status of [500, 502, 503, 504]) {
      const error = toActiveCampaignError(request, status, headers(), '<html>', now);
      expect(error).toBeInstanceOf(ServerError);
      expect(error?.retryable).toBe(true);
    }
  });

  it('honours Retry-After on a 503 when one is sent', () => {
    expect(
      toActiveCampaignError(request, 503, headers({ 'Retry-After': '4' }), '', now)?.response?.retryAfterMs,
    ).toBe(4000);
  });

  it('returns a permanent UnexpectedResponseError for other statuses', () => {
    const error = toActiveCampaignError(request, 418, headers(), {}, now);
    expect(error).toBeInstanceOf(UnexpectedResponseError);
    expect(error?.retryable).toBe(false);
  });
});
