/**
 * The ActiveCampaign API v3 client the exporter uses: verify key + host, verify a list, bulk import, and
 * read an import batch's outcome. Every push goes through bulk import, even a single contact, because
 * `contact/sync` + `contactLists` would re-subscribe someone who opted out (docs/activecampaign.md).
 *
 * Design choices, written down (after ky):
 * - fetch, clock, logger, randomness and the rate budget are injected; nothing here reads the environment.
 * - Every request waits for a slot in the account's `RateBudget` first, including retries.
 * - Retries: 429 (Retry-After honoured), bulk import's `400 Rate limit exceeded.` (waits for the minute
 *   window), 503/5xx, timeouts and connection resets, with exponential backoff and full jitter, bounded by
 *   `maxAttempts`. Bad credentials, a missing list and validation failures are never retried.
 * - A bulk import whose response was lost (a reset or timeout once the body may have reached ActiveCampaign)
 *   MAY have been applied. Bulk import upserts by email, so applying the same content twice changes nothing
 *   for the contacts, and the client resends it, but at most `retry.maxAmbiguousResends` times (default 1, so
 *   a request is applied at most twice). Every such resend is counted (`stats.ambiguousBulkResubmissions`)
 *   and reported where the caller sees it: `bulkImport` resolves with `ambiguousResends` (> 0: its contacts
 *   may have been applied twice). Past the bound, or when a resend after a lost response fails otherwise,
 *   `bulkImport` throws `OutcomeUnknownError` (code `activecampaign_outcome_unknown`, not retryable: ANOTHER
 *   send is what the bound forbids): ActiveCampaign may have applied the contacts, so they are `unconfirmed`
 *   with an "outcome unknown" reason, never "not sent". A failure to connect (refused, DNS) sent nothing and
 *   is retried like any other. See docs/activecampaign.md.
 * - The API key goes into the `Api-Token` header and nowhere else: not into URLs, errors or log lines.
 */
import type { z } from 'zod';

import type { Config } from '../../config';
import { MAX_BULK_IMPORT_BYTES, MAX_CONTACTS_PER_BULK_IMPORT } from '../../domain/segments/requestPacker';
import { type Clock, scaledClock, systemClock } from './clock';
import {
  type ActiveCampaignError,
  ActiveCampaignNotFoundError,
  type ActiveCampaignRequestInfo,
  type ActiveCampaignResponseInfo,
  AuthenticationError,
  BudgetSlotMissedError,
  NetworkError,
  OutcomeUnknownError,
  RateLimitedError,
  ServerError,
  TimeoutError,
  UnexpectedResponseError,
  ValidationFailedError,
} from './errors';
import { type HostRuleOptions, resolveActiveCampaignBaseUrl } from './host';
import {
  type BudgetKind,
  DEFAULT_RATE_LIMITS,
  inProcessRateBudgetFor,
  type RateBudget,
  type RateLimits,
  rateLimitsFromConfig,
} from './rateBudget';
import { DEFAULT_RETRY_POLICY, parseRetryAfter, retryDelay, type RetryPolicy } from './retryTiming';
import {
  type ActiveCampaignList,
  type ActiveCampaignUser,
  bulkImportAcceptedSchema,
  type BulkImportRequest,
  bulkImportRequestSchema,
  type BulkImportResult,
  errorBodySchema,
  type ImportInfo,
  importInfoSchema,
  listResponseSchema,
  userResponseSchema,
} from './schemas';

// Bulk import's request limits live with the packer that honours them; re-exported for the client's users.
export { MAX_BULK_IMPORT_BYTES, MAX_CONTACTS_PER_BULK_IMPORT };
/** Without a Retry-After, bulk import's "Rate limit exceeded." means: retry in a minute (its own wording). */
const BULK_RATE_LIMIT_WINDOW_MS = 60_000;

/** The logging surface the client needs; an Azure Functions `InvocationContext` satisfies it. */
export interface ActiveCampaignLogger {
  info(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
}

/** Counters a run report can show: what the client did and what ActiveCampaign pushed back with. */
export interface ActiveCampaignClientStats {
  /** HTTP requests sent (every attempt). */
  requests: number;
  /** Attempts after the first. */
  retries: number;
  /** 429 answers (requests/s budget). */
  throttled: number;
  /** `400 Rate limit exceeded.` answers (bulk imports/min budget). */
  bulkRateLimited: number;
  serverErrors: number;
  networkErrors: number;
  timeouts: number;
  /** Bulk imports accepted (200). */
  bulkImportsAccepted: number;
  /** Bulk imports retried after their response was lost; ActiveCampaign may have queued both (harmless upserts). */
  ambiguousBulkResubmissions: number;
  /** Bulk imports given up with `OutcomeUnknownError`: ActiveCampaign may or may not have applied them. */
  outcomeUnknown: number;
}

/** Everything the client needs; only `host`, `apiKey` and `hostRule` are required. */
export interface ActiveCampaignClientOptions {
  /** The account's API hostname as the user entered it (validated by the host rule). */
  host: string;
  apiKey: string;
  hostRule: HostRuleOptions;
  fetch?: typeof fetch;
  clock?: Clock;
  logger?: ActiveCampaignLogger;
  /** Defaults to the in-process budget for `host` (shared by every client of that account in this process). */
  budget?: RateBudget;
  limits?: Partial<RateLimits>;
  retry?: Partial<RetryPolicy>;
  /** Per-attempt timeout, covering the response body too. */
  timeoutMs?: number;
  /** Source of jitter, in [0, 1). */
  random?: () => number;
}

const silentLogger: ActiveCampaignLogger = { info: () => {}, warn: () => {}, error: () => {} };

/** Builds a client from the app's settings for one connection (host + key). */
export function createActiveCampaignClient(
  config: Config,
  connection: { host: string; apiKey: string },
  deps: Omit<ActiveCampaignClientOptions, 'host' | 'apiKey' | 'hostRule' | 'limits'> = {},
): ActiveCampaignClient {
  return new ActiveCampaignClient({
    ...(config.ACTIVECAMPAIGN_TIME_SCALE === 1
      ? {}
      : { clock: processScaledClock(config.ACTIVECAMPAIGN_TIME_SCALE) }),
    ...deps,
    host: connection.host,
    apiKey: connection.apiKey,
    hostRule: {
      allowedSuffixes: config.ACTIVECAMPAIGN_ALLOWED_HOST_SUFFIXES,
      allowLoopbackHttp: config.ACTIVECAMPAIGN_ALLOW_LOOPBACK_HTTP,
    },
    limits: rateLimitsFromConfig(config),
  });
}

let scaled: { timeScale: number; clock: Clock } | undefined;

/** One scaled clock per process, so every client of an account paces on the same time base. */
function processScaledClock(timeScale: number): Clock {
  if (scaled?.timeScale !== timeScale) scaled = { timeScale, clock: scaledClock(timeScale) };
  return scaled.clock;
}

/** One ActiveCampaign account, as seen through one API key. */
export class ActiveCampaignClient {
  readonly baseUrl: string;
  readonly stats: ActiveCampaignClientStats = {
    requests: 0,
    retries: 0,
    throttled: 0,
    bulkRateLimited: 0,
    serverErrors: 0,
    networkErrors: 0,
    timeouts: 0,
    bulkImportsAccepted: 0,
    ambiguousBulkResubmissions: 0,
    outcomeUnknown: 0,
  };
  private readonly apiKey: string;
  private readonly fetchFn: typeof fetch;
  private readonly clock: Clock;
  private readonly logger: ActiveCampaignLogger;
  private readonly budget: RateBudget;
  private readonly policy: RetryPolicy;
  private readonly timeoutMs: number;
  private readonly random: () => number;

  constructor(options: ActiveCampaignClientOptions) {
    this.baseUrl = resolveActiveCampaignBaseUrl(options.host, options.hostRule);
    this.apiKey = options.apiKey;
    this.fetchFn = options.fetch ?? fetch;
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
    const limits = { ...DEFAULT_RATE_LIMITS, ...options.limits };
    this.budget = options.budget ?? inProcessRateBudgetFor(new URL(this.baseUrl).host, this.clock, limits);
    this.policy = { ...DEFAULT_RETRY_POLICY, ...options.retry };
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.random = options.random ?? Math.random;
  }

  /** `GET /api/3/users/me`: proves the key and host belong together; throws AuthenticationError if not. */
  async verifyCredentials(): Promise<ActiveCampaignUser> {
    return (await this.call('GET', 'users/me', userResponseSchema)).user;
  }

  /** `GET /api/3/lists/{id}`: the list, or ActiveCampaignNotFoundError when the account has no such list. */
  async getList(listId: string | number): Promise<ActiveCampaignList> {
    const id = String(listId);
    if (!/^\d+$/.test(id)) {
      throw new ValidationFailedError(
        { method: 'GET', path: `/api/3/lists/${encodeURIComponent(id)}`, attempt: 0 },
        undefined,
        ['list id must be a positive integer'],
        'Invalid ActiveCampaign list id (must be a positive integer)',
      );
    }
    return (await this.call('GET', `lists/${id}`, listResponseSchema)).list;
  }

  /**
   * `POST /api/3/import/bulk_import`: queues up to 250 contacts; returns the batch id to reconcile and
   * `ambiguousResends` (earlier sends whose response was lost: > 0 means its contacts may have been applied
   * twice). Checked locally first (schema, 250 contacts, < 400,000 bytes) so an oversized request is never
   * sent. Throws `OutcomeUnknownError` when ActiveCampaign may have applied it but the client cannot know.
   */
  async bulkImport(request: BulkImportRequest): Promise<BulkImportResult> {
    const path = 'import/bulk_import';
    const parsed = bulkImportRequestSchema.safeParse(request);
    const body = JSON.stringify(parsed.success ? parsed.data : request);
    const local = (reason: string) =>
      new ValidationFailedError(
        { method: 'POST', path: `/api/3/${path}`, attempt: 0 },
        undefined,
        [reason],
        `Bulk import not sent (${reason})`,
      );
    if (!parsed.success)
      throw local(`request does not match the bulk import schema: ${parsed.error.issues[0]?.message ?? ''}`);
    if (parsed.data.contacts.length > MAX_CONTACTS_PER_BULK_IMPORT) {
      throw local(
        `${parsed.data.contacts.length} contacts; at most ${MAX_CONTACTS_PER_BULK_IMPORT} per request`,
      );
    }
    const bytes = Buffer.byteLength(body);
    if (bytes > MAX_BULK_IMPORT_BYTES) throw local(`body is ${bytes} bytes; it must be under 400,000`);
    // ActiveCampaign budgets single-contact imports separately (20/min by default,
    // ACTIVECAMPAIGN_SINGLE_IMPORTS_PER_MINUTE); pace them as such.
    const kind: BudgetKind = parsed.data.contacts.length === 1 ? 'singleContactImport' : 'bulkImport';
    const { data, lostResponses } = await this.send('POST', path, bulkImportAcceptedSchema, { body, kind });
    this.stats.bulkImportsAccepted++;
    return { ...data, ambiguousResends: lostResponses };
  }

  /** `GET /api/3/import/info?batchId=`: one look at a batch (the Durable orchestration polls with timers). */
  async getImportInfo(batchId: string): Promise<ImportInfo> {
    return this.call('GET', `import/info?batchId=${encodeURIComponent(batchId)}`, importInfoSchema);
  }

  /** Sends one call with pacing and bounded retries; returns the parsed body or throws an ActiveCampaignError. */
  private async call<S extends z.ZodType>(
    method: 'GET' | 'POST',
    path: string,
    schema: S,
    options: { body?: string; kind?: BudgetKind } = {},
  ): Promise<z.infer<S>> {
    return (await this.send(method, path, schema, options)).data;
  }

  /**
   * `call`, also saying how many earlier attempts of a POST lost their response after the body may have been
   * applied (`lostResponses`). Those are bounded by `maxAmbiguousResends`; see the design notes above.
   */
  private async send<S extends z.ZodType>(
    method: 'GET' | 'POST',
    path: string,
    schema: S,
    options: { body?: string; kind?: BudgetKind } = {},
  ): Promise<{ data: z.infer<S>; lostResponses: number }> {
    const maxAmbiguousResends = Math.max(0, this.policy.maxAmbiguousResends ?? 1);
    let lostResponses = 0;
    let lastLost = false;
    for (let attempt = 1; ; attempt++) {
      const request: ActiveCampaignRequestInfo = { method, path: `/api/3/${path}`, attempt };
      try {
        await this.budget.acquire(options.kind ?? 'request');
      } catch (error) {
        // A shared budget that could not give an on-time slot (nothing was sent): back off and ask again.
        if (!(error instanceof BudgetSlotMissedError) || attempt >= this.policy.maxAttempts) throw error;
        const delay = retryDelay(attempt, undefined, this.policy, this.random);
        this.logger.warn(`${error.message}; asking again in ${delay} ms`);
        await this.clock.sleep(delay);
        continue;
      }
      if (attempt > 1) {
        this.stats.retries++;
        // The previous attempt may have been applied by ActiveCampaign; this one may apply the same contacts again.
        if (lastLost) this.stats.ambiguousBulkResubmissions++;
      }
      try {
        return { data: await this.attempt(request, schema, options.body), lostResponses };
      } catch (error) {
        const failure = error as ActiveCampaignError;
        this.count(failure);
        // Only a request that changes something (a POST with a body) can be "applied with the answer lost".
        lastLost =
          options.body !== undefined &&
          (failure instanceof TimeoutError || (failure instanceof NetworkError && !failure.notSent));
        if (lastLost) lostResponses++;
        const retryAfterMs = failure.response?.retryAfterMs;
        const delay = retryDelay(attempt, retryAfterMs, this.policy, this.random);
        if (failure instanceof RateLimitedError) {
          // Tell every worker on this account, not just this call, to hold off — before deciding whether THIS
          // call gives up: a Retry-After too long for us to wait is still binding on everyone else.
          await this.budget.pause(
            failure.scope === 'bulk_imports_per_minute' ? 'bulkImport' : 'request',
            this.clock.now() + (retryAfterMs ?? delay),
          );
        }
        const giveUp =
          !failure.retryable ||
          attempt >= this.policy.maxAttempts ||
          (retryAfterMs !== undefined && retryAfterMs > this.policy.maxRetryAfterMs) ||
          lostResponses > maxAmbiguousResends;
        if (giveUp) {
          // An earlier send may have been applied: whatever ended this call, its outcome is unknown. (A
          // validation failure is not: ActiveCampaign validates the same body the same way every time.)
          if (lostResponses > 0 && !(failure instanceof ValidationFailedError)) {
            this.stats.outcomeUnknown++;
            // The sends that may have been applied are the lost ones; all but one of them are extra.
            throw new OutcomeUnknownError(
              request,
              { lostResponses, ambiguousResends: lostResponses - 1 },
              failure,
            );
          }
          throw failure;
        }
        // The error's message already names ActiveCampaign and the call.
        this.logger.warn(
          `${failure.message} (attempt ${attempt} of ${this.policy.maxAttempts}); retrying in ${delay} ms`,
        );
        await this.clock.sleep(delay);
      }
    }
  }

  /** One HTTP exchange under a timeout; maps every failure into the error family. */
  private async attempt<S extends z.ZodType>(
    request: ActiveCampaignRequestInfo,
    schema: S,
    body: string | undefined,
  ): Promise<z.infer<S>> {
    const controller = new AbortController();
    const timer = new AbortController();
    let timedOut = false;
    // The timeout runs on the injected clock so a time-scaled sandbox scales it too.
    this.clock.sleep(this.timeoutMs, timer.signal).then(
      () => {
        timedOut = true;
        controller.abort();
      },
      () => {},
    );
    this.stats.requests++;
    let status: number;
    let headers: Headers;
    let text: string;
    try {
      const response = await this.fetchFn(new URL(request.path.slice('/api/3/'.length), this.baseUrl), {
        method: request.method,
        headers: {
          'Api-Token': this.apiKey,
          Accept: 'application/json',
          ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
        },
        body,
        signal: controller.signal,
      });
      status = response.status;
      headers = response.headers;
      // Read the body inside the timeout: a reset mid-body ("terminated") is a network error too.
      text = await response.text();
    } catch (error) {
      if (timedOut) throw new TimeoutError(request, this.timeoutMs);
      throw new NetworkError(request, error);
    } finally {
      timer.abort();
    }
    const json = parseJson(this.scrub(text));
    const error = toActiveCampaignError(request, status, headers, json, this.clock.now());
    if (error) throw error;
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      // Not retried (a resubmission could double-queue), and the status is kept: for a 2xx the caller must
      // treat the request as possibly applied (importContacts reports its contacts `unconfirmed`).
      throw new UnexpectedResponseError(
        request,
        { status, body: json, retryAfterMs: undefined },
        'body does not match the documented shape',
        parsed.error,
      );
    }
    return parsed.data;
  }

  private count(error: ActiveCampaignError): void {
    if (error instanceof RateLimitedError) {
      if (error.scope === 'bulk_imports_per_minute') this.stats.bulkRateLimited++;
      else this.stats.throttled++;
    } else if (error instanceof ServerError) this.stats.serverErrors++;
    else if (error instanceof NetworkError) this.stats.networkErrors++;
    else if (error instanceof TimeoutError) this.stats.timeouts++;
  }

  /** Defence in depth: should a response ever echo the key, it must not ride into an error or a log. */
  private scrub(text: string): string {
    return this.apiKey.length >= 4 ? text.split(this.apiKey).join('[redacted]') : text;
  }
}

function parseJson(text: string): unknown {
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
