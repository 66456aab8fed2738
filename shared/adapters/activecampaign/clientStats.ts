/** What an ActiveCampaign client counts: its requests, retries and what ActiveCampaign pushed back with. */
import {
  type ActiveCampaignError,
  NetworkError,
  RateLimitedError,
  ServerError,
  TimeoutError,
} from './errors';

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

/** Counters at zero, for a new client. */
export function emptyClientStats(): ActiveCampaignClientStats {
  return {
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
}

/** Counts one failed attempt under its kind (429, bulk rate limit, 5xx, network, timeout). */
export function countFailure(stats: ActiveCampaignClientStats, error: ActiveCampaignError): void {
  if (error instanceof RateLimitedError) {
    if (error.scope === 'bulk_imports_per_minute') stats.bulkRateLimited++;
    else stats.throttled++;
  } else if (error instanceof ServerError) stats.serverErrors++;
  else if (error instanceof NetworkError) stats.networkErrors++;
  else if (error instanceof TimeoutError) stats.timeouts++;
}
