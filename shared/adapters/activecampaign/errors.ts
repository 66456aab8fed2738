/**
 * The ActiveCampaign error family. Like ky's `HTTPError`, every error carries the request it was about
 * (method and path, never the key or the host's credentials) and, when there was one, the response
 * (status, parsed body, Retry-After). Whether a retry can help is decided here, once, as `retryable`.
 */
import { AppError } from '../../errors';
import type { FailureReason } from './schemas';

/** What an error says about the request: enough to find it in ActiveCampaign's docs, nothing secret. */
export interface ActiveCampaignRequestInfo {
  method: string;
  /** Path and query under the host, e.g. `/api/3/import/info?batchId=…`. */
  path: string;
  /** 1-based attempt number that produced this error. */
  attempt: number;
}

/** What an error says about the response, when one arrived. */
export interface ActiveCampaignResponseInfo {
  status: number;
  /** The parsed JSON body (or the first characters of a non-JSON body). */
  body: unknown;
  /** Milliseconds to wait before retrying, from Retry-After or a documented window; undefined if unknown. */
  retryAfterMs: number | undefined;
}

interface ErrorOptions {
  code: string;
  retryable: boolean;
  status: number;
  request: ActiveCampaignRequestInfo;
  response?: ActiveCampaignResponseInfo;
  cause?: unknown;
}

/** Base of every error the ActiveCampaign client throws. */
export class ActiveCampaignError extends AppError {
  readonly request: ActiveCampaignRequestInfo;
  readonly response: ActiveCampaignResponseInfo | undefined;

  constructor(summary: string, options: ErrorOptions) {
    // "summary: METHOD /path", as ky does, so a log line alone says which call failed.
    super(`${summary}: ${options.request.method} ${options.request.path}`, options);
    this.request = options.request;
    this.response = options.response;
  }
}

/** 401/403: ActiveCampaign refused the API key (or the host belongs to another account). Never retried. */
export class AuthenticationError extends ActiveCampaignError {
  constructor(request: ActiveCampaignRequestInfo, response: ActiveCampaignResponseInfo) {
    super(`ActiveCampaign rejected the API key (${response.status})`, {
      code: 'activecampaign_auth_failed',
      retryable: false,
      status: 422,
      request,
      response,
    });
  }
}

/** 404: the list (or other resource) does not exist in this account. Never retried. */
export class ActiveCampaignNotFoundError extends ActiveCampaignError {
  constructor(request: ActiveCampaignRequestInfo, response: ActiveCampaignResponseInfo) {
    const detail = messageOf(response.body);
    super(`ActiveCampaign found nothing (404${detail ? `, "${detail}"` : ''})`, {
      code: 'activecampaign_not_found',
      retryable: false,
      status: 422,
      request,
      response,
    });
  }
}

/** 400/413 that is not a rate limit: the request itself is wrong; nothing was queued. Never retried. */
export class ValidationFailedError extends ActiveCampaignError {
  /** ActiveCampaign's `failureReasons`, e.g. `{contact: 230, failureReason: "Field' email' incorrect format"}`. */
  readonly failureReasons: readonly FailureReason[];

  constructor(
    request: ActiveCampaignRequestInfo,
    response: ActiveCampaignResponseInfo | undefined,
    failureReasons: readonly FailureReason[],
    summary = `ActiveCampaign rejected the request (${response?.status ?? 'not sent'})`,
  ) {
    super(summary, {
      code: 'activecampaign_validation_failed',
      retryable: false,
      status: 422,
      request,
      response,
    });
    this.failureReasons = failureReasons;
  }
}

/** Which budget ActiveCampaign said we exceeded. */
export type RateLimitScope = 'requests_per_second' | 'bulk_imports_per_minute';

/** 429 (5 rps budget) or bulk import's documented `400 "Rate limit exceeded."` (imports/min budget). */
export class RateLimitedError extends ActiveCampaignError {
  readonly scope: RateLimitScope;

  constructor(
    request: ActiveCampaignRequestInfo,
    response: ActiveCampaignResponseInfo,
    scope: RateLimitScope,
  ) {
    super(`ActiveCampaign rate limit exceeded (${response.status}, ${scope})`, {
      code: 'activecampaign_rate_limited',
      retryable: true,
      status: 503,
      request,
      response,
    });
    this.scope = scope;
  }
}

/** 5xx: ActiveCampaign (or its edge) failed; 503 is also seen at the rate limit. Retried. */
export class ServerError extends ActiveCampaignError {
  constructor(request: ActiveCampaignRequestInfo, response: ActiveCampaignResponseInfo) {
    super(`ActiveCampaign server error (${response.status})`, {
      code: 'activecampaign_server_error',
      retryable: true,
      status: 502,
      request,
      response,
    });
  }
}

/**
 * Failures of the connection itself (nothing reached ActiveCampaign): refused, unresolvable, unreachable, or
 * no TCP connection within undici's connect timeout. Any other network failure may have happened after the
 * request body was sent.
 */
const NOT_SENT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/** The connection failed or was reset before a full response arrived. Retried. */
export class NetworkError extends ActiveCampaignError {
  /**
   * True when the failure was in connecting, so ActiveCampaign cannot have seen the request. When false (a
   * reset, a closed socket, a body cut short) the request may have been received and applied.
   */
  readonly notSent: boolean;

  constructor(request: ActiveCampaignRequestInfo, cause: unknown) {
    super(`Network error talking to ActiveCampaign (${describeCause(cause)})`, {
      code: 'activecampaign_network_error',
      retryable: true,
      status: 502,
      request,
      cause,
    });
    const code = codeOf(cause);
    this.notSent = code !== undefined && NOT_SENT_CODES.has(code);
  }
}

/** No response within the per-request timeout. Retried. */
export class TimeoutError extends ActiveCampaignError {
  constructor(request: ActiveCampaignRequestInfo, timeoutMs: number) {
    super(`ActiveCampaign did not answer within ${timeoutMs} ms`, {
      code: 'activecampaign_timeout',
      retryable: true,
      status: 504,
      request,
    });
  }
}

/**
 * The shared rate budget could not hand out a slot that was still on time (every reservation was already
 * missed when storage answered). Nothing was sent; retryable, like a 429 we caused ourselves.
 */
export class BudgetSlotMissedError extends ActiveCampaignError {
  constructor(kind: string, missed: number, lateByMs: number) {
    super(
      `ActiveCampaign rate budget: ${missed} reserved slots missed (last by ${Math.round(lateByMs)} ms)`,
      {
        code: 'activecampaign_budget_slot_missed',
        retryable: true,
        status: 503,
        request: { method: 'RESERVE', path: `(${kind} slot in the shared rate budget)`, attempt: missed },
      },
    );
  }
}

/**
 * A bulk import whose outcome nobody can know: its response was lost (a reset or a timeout after the body
 * may have reached ActiveCampaign) as many times as the client allows resending it, or it was resent after
 * a lost response and then failed otherwise. ActiveCampaign may have applied it (up to
 * `ambiguousResends + 1` times) or not at all. Not retryable, on purpose: another send is exactly what the bound forbids,
 * so a caller's generic retry (a Durable activity retry policy) must not resend it; the contacts are
 * `unconfirmed` ("outcome unknown") and the next run sends them again (see docs/activecampaign.md).
 */
export class OutcomeUnknownError extends ActiveCampaignError {
  /** Sends of this request whose response was lost after the body may have been applied. */
  readonly lostResponses: number;
  /** How many times beyond once ActiveCampaign may have applied it (lost responses − 1). */
  readonly ambiguousResends: number;

  constructor(
    request: ActiveCampaignRequestInfo,
    counts: { lostResponses: number; ambiguousResends: number },
    cause: ActiveCampaignError,
  ) {
    super(
      `ActiveCampaign may have applied this request; its outcome is unknown (${counts.lostResponses} ` +
        `response(s) lost, ${counts.ambiguousResends} resend(s); last failure: ${cause.message})`,
      { code: 'activecampaign_outcome_unknown', retryable: false, status: 502, request, cause },
    );
    this.lostResponses = counts.lostResponses;
    this.ambiguousResends = counts.ambiguousResends;
  }
}

/** A response we cannot interpret: an unexpected status or a body that fails its schema. Not retried. */
export class UnexpectedResponseError extends ActiveCampaignError {
  constructor(
    request: ActiveCampaignRequestInfo,
    response: ActiveCampaignResponseInfo,
    why: string,
    cause?: unknown,
  ) {
    super(`Unexpected ActiveCampaign response (${response.status}, ${why})`, {
      code: 'activecampaign_unexpected_response',
      retryable: false,
      status: 502,
      request,
      response,
      cause,
    });
  }
}

/**
 * True when a failed bulk import may nevertheless have been applied by ActiveCampaign, so its contacts are
 * `unconfirmed` (outcome unknown), never `rejected` and never "not sent": an `OutcomeUnknownError`, or a 2xx
 * answer whose body could not be read.
 */
export function mayHaveBeenApplied(error: unknown): boolean {
  if (error instanceof OutcomeUnknownError) return true;
  if (!(error instanceof UnexpectedResponseError)) return false;
  const status = error.response?.status ?? 0;
  return status >= 200 && status < 300;
}

/** The `message` of an ActiveCampaign error body, if it has one (bounded, for messages). */
export function messageOf(body: unknown): string | undefined {
  if (body && typeof body === 'object' && 'message' in body && typeof body.message === 'string') {
    return body.message.slice(0, 200);
  }
  return undefined;
}

/** The `code` of a low-level failure (undici puts the socket's error in `cause`), if it has one. */
function codeOf(cause: unknown): string | undefined {
  for (let e: unknown = cause, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}

/** A short, secret-free description of a low-level failure (error code and message, no headers). */
function describeCause(cause: unknown): string {
  if (!(cause instanceof Error)) return 'unknown error';
  const inner = cause.cause instanceof Error ? cause.cause : undefined;
  const code: unknown =
    (inner ?? cause) instanceof Error ? ((inner ?? cause) as { code?: unknown }).code : undefined;
  const text = inner?.message ?? cause.message;
  return [typeof code === 'string' ? code : undefined, text].filter(Boolean).join(': ').slice(0, 200);
}
