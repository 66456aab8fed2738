/**
 * Error mapping: the member of the error family an ActiveCampaign HTTP answer stands for (pure, no I/O).
 * The client's call loop decides from it what is retried (docs/activecampaign.md).
 */
import {
  type ActiveCampaignError,
  ActiveCampaignNotFoundError,
  type ActiveCampaignRequestInfo,
  type ActiveCampaignResponseInfo,
  AuthenticationError,
  RateLimitedError,
  ServerError,
  UnexpectedResponseError,
  ValidationFailedError,
} from './errors';
import { parseRetryAfter } from './retryTiming';
import { errorBodySchema } from './schemas';

/** Without a Retry-After, bulk import's "Rate limit exceeded." means: retry in a minute (its own wording). */
const BULK_RATE_LIMIT_WINDOW_MS = 60_000;

/** A response body as JSON, or (when it is not JSON) its first 500 characters. */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text.slice(0, 500);
  }
}

/**
 * Pure: the error an ActiveCampaign response stands for, or undefined for a 2xx.
 * Exported for unit tests of each branch.
 */
export function toActiveCampaignError(
  request: ActiveCampaignRequestInfo,
  status: number,
  headers: Headers,
  body: unknown,
  now: number,
): ActiveCampaignError | undefined {
  if (status >= 200 && status < 300) return undefined;
  const retryAfterMs = parseRetryAfter(headers.get('Retry-After'), now);
  const response: ActiveCampaignResponseInfo = { status, body, retryAfterMs };
  const errorBody = errorBodySchema.safeParse(body);
  const message = errorBody.success ? errorBody.data.message : undefined;
  // 401/403: a missing or bad key; ActiveCampaign answers 403 (some report 401). Retrying cannot help.
  if (status === 401 || status === 403) return new AuthenticationError(request, response);
  if (status === 404) return new ActiveCampaignNotFoundError(request, response);
  // 429: over 5 requests/s; Retry-After says when (developers.activecampaign.com/reference/rate-limits).
  if (status === 429) return new RateLimitedError(request, response, 'requests_per_second');
  if (status === 400 && message !== undefined && /rate limit exceeded/i.test(message)) {
    // Bulk import's per-minute limit is a 400, not a 429, with no Retry-After: wait for the minute window.
    return new RateLimitedError(
      request,
      { ...response, retryAfterMs: retryAfterMs ?? BULK_RATE_LIMIT_WINDOW_MS },
      'bulk_imports_per_minute',
    );
  }
  if (status === 400 || status === 413 || status === 422) {
    return new ValidationFailedError(
      request,
      response,
      errorBody.success ? (errorBody.data.failureReasons ?? []) : [],
    );
  }
  // 503 is also seen at the rate limit (mediatoolkit/activecampaign-v3-php#18); every 5xx may pass.
  if (status >= 500) return new ServerError(request, response);
  return new UnexpectedResponseError(request, response, `status ${status}`);
}
