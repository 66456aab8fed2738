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
import { BULK_IMPORT_PATH, encodeBulkImport } from './bulkImportBody';
import { type ActiveCampaignClientStats, countFailure, emptyClientStats } from './clientStats';
import { type Clock, scaledClock, systemClock } from './clock';
import {
  type ActiveCampaignError,
  type ActiveCampaignRequestInfo,
  BudgetSlotMissedError,
  NetworkError,
  OutcomeUnknownError,
  RateLimitedError,
  TimeoutError,
  ValidationFailedError,
} from './errors';
import { type HostRuleOptions, resolveActiveCampaignBaseUrl } from './host';
import { exchange, type ExchangeDeps } from './httpExchange';
import {
  type BudgetKind,
  DEFAULT_RATE_LIMITS,
  inProcessRateBudgetFor,
  type RateBudget,
  type RateLimits,
  rateLimitsFromConfig,
} from './rateBudget';
import { DEFAULT_RETRY_POLICY, retryDelay, type RetryPolicy } from './retryTiming';
import {
  type ActiveCampaignList,
  type ActiveCampaignUser,
  bulkImportAcceptedSchema,
  type BulkImportRequest,
  type BulkImportResult,
  type ImportInfo,
  importInfoSchema,
  listResponseSchema,
  userResponseSchema,
} from './schemas';

// Bulk import's request limits live with the packer that honours them; re-exported for the client's users.
export { MAX_BULK_IMPORT_BYTES, MAX_CONTACTS_PER_BULK_IMPORT };
// The request building, one HTTP exchange, the error mapping and the counters live in their own files
// (bulkImportBody.ts, httpExchange.ts, responseErrors.ts, clientStats.ts); re-exported for the client's users.
export type { ActiveCampaignClientStats } from './clientStats';
export { toActiveCampaignError } from './responseErrors';
/** The logging surface the client needs; an Azure Functions `InvocationContext` satisfies it. */
export interface ActiveCampaignLogger {
  info(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
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
  readonly stats: ActiveCampaignClientStats = emptyClientStats();
  /** What each HTTP exchange needs, the API key among it (kept private). */
  private readonly exchangeDeps: ExchangeDeps;
  private readonly clock: Clock;
  private readonly logger: ActiveCampaignLogger;
  private readonly budget: RateBudget;
  private readonly policy: RetryPolicy;
  private readonly timeoutMs: number;
  private readonly random: () => number;

  constructor(options: ActiveCampaignClientOptions) {
    this.baseUrl = resolveActiveCampaignBaseUrl(options.host, options.hostRule);
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
    const limits = { ...DEFAULT_RATE_LIMITS, ...options.limits };
    this.budget = options.budget ?? inProcessRateBudgetFor(new URL(this.baseUrl).host, this.clock, limits);
    this.policy = { ...DEFAULT_RETRY_POLICY, ...options.retry };
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.random = options.random ?? Math.random;
    this.exchangeDeps = {
      baseUrl: this.baseUrl,
      apiKey: options.apiKey,
      fetchFn: options.fetch ?? fetch,
      clock: this.clock,
      timeoutMs: this.timeoutMs,
      stats: this.stats,
    };
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
    const { body, kind } = encodeBulkImport(request);
    const { data, lostResponses } = await this.send('POST', BULK_IMPORT_PATH, bulkImportAcceptedSchema, {
      body,
      kind,
    });
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
        return { data: await exchange(this.exchangeDeps, request, schema, options.body), lostResponses };
      } catch (error) {
        const failure = error as ActiveCampaignError;
        countFailure(this.stats, failure);
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
}
