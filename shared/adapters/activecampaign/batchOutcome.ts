/**
 * The pure half of reconciling: what one `import/info` answer says about a batch (`toBatchOutcome`, which the
 * Durable orchestration uses between its own timers) and what a contact's outcome is when its bulk import was
 * not accepted (`notAccepted`). No I/O, no clock.
 */
import {
  type ActiveCampaignError,
  mayHaveBeenApplied,
  OutcomeUnknownError,
  ValidationFailedError,
} from './errors';
import type { BulkImportRequest, FailureReason, ImportInfo } from './schemas';

/** Why ActiveCampaign skipped a contact. `import/info` lists only the email, never the reason. */
export const ACTIVECAMPAIGN_SKIPPED_REASON =
  'skipped by ActiveCampaign (one of: email on an exclusion list, bounced, account contact limit reached, ' +
  'unsubscribed from this list, invalid email)';

/** A batch's state after one look at `import/info`. */
export type BatchOutcome =
  | { state: 'pending'; status: 'not_ready' | 'waiting' | 'claimed' | 'active' }
  /** A status string ActiveCampaign does not document: wait (it may still finish), give up at the deadline. */
  | { state: 'pending'; status: 'unknown'; reported: string }
  | {
      state: 'completed';
      confirmed: string[];
      failed: { email: string; reason: string }[];
      contactIds: string[];
    }
  | { state: 'resubmit'; status: 'failed' | 'interrupted' }
  /** `completed`, but the answer does not add up to what we sent: no evidence either way. */
  | { state: 'inconsistent'; reason: string };

/**
 * Pure: maps one `import/info` answer for a batch of `submittedEmails` to an outcome. When completed,
 * confirmed = submitted − failure (matched case-insensitively, as ActiveCampaign matches emails).
 */
export function toBatchOutcome(info: ImportInfo, submittedEmails: readonly string[]): BatchOutcome {
  // Polled within about a second of the POST, ActiveCampaign answers `status: false`: not ready yet.
  if (info.status === false) return { state: 'pending', status: 'not_ready' };
  if (info.status === 'failed' || info.status === 'interrupted')
    return { state: 'resubmit', status: info.status };
  if (info.status === 'waiting' || info.status === 'claimed' || info.status === 'active')
    return { state: 'pending', status: info.status };
  if (info.status !== 'completed') return { state: 'pending', status: 'unknown', reported: info.status };
  // Cross-check: ActiveCampaign lists one contact id per imported contact under `success` and one email per
  // skipped contact under `failure` (the sandbox does the same), so when both lists are present they must add
  // up to what we sent. If they do not, `submitted − failure` would confirm contacts without evidence.
  if (info.success !== undefined && info.failure !== undefined) {
    const reported = info.success.length + info.failure.length;
    if (reported !== submittedEmails.length) {
      return {
        state: 'inconsistent',
        reason:
          `counts disagree: import/info reports ${info.success.length} imported + ${info.failure.length} failed ` +
          `for ${submittedEmails.length} contacts submitted; will be retried on the next run`,
      };
    }
  }
  const failedSet = new Set((info.failure ?? []).map((e) => e.toLowerCase()));
  const confirmed: string[] = [];
  const failed: { email: string; reason: string }[] = [];
  for (const email of submittedEmails) {
    if (failedSet.has(email.toLowerCase())) failed.push({ email, reason: ACTIVECAMPAIGN_SKIPPED_REASON });
    else confirmed.push(email);
  }
  return { state: 'completed', confirmed, failed, contactIds: info.success ?? [] };
}

/** Pure: the emails of a bulk import request, in order. */
export function emailsOf(request: BulkImportRequest): string[] {
  return request.contacts.map((c) => c.email);
}

/** What happened to one contact. */
export interface ContactOutcome {
  email: string;
  status: 'confirmed' | 'rejected' | 'unconfirmed';
  /** Why, for `rejected` and `unconfirmed`. */
  reason?: string;
  /**
   * Set when the bulk import that carried this contact was sent again after its response was lost: the
   * contact may have been applied twice (same content, so harmless for an upsert; reported, never silent).
   */
  mayHaveBeenAppliedTwice?: true;
}

/** Pure: what ActiveCampaign's whole-request validation said, as one reason line. */
export function describeFailureReasons(reasons: readonly FailureReason[]): string {
  return reasons
    .map((r) => (typeof r === 'string' ? r : `contact ${r.contact ?? '?'}: ${r.failureReason}`))
    .join('; ')
    .slice(0, 500);
}

/**
 * Pure: the outcome of a contact whose bulk import did not end accepted. Rejected only when ActiveCampaign
 * refused the request (nothing was queued); `unconfirmed` when the call ran out of retries before anything
 * reached ActiveCampaign ("not sent") or when ActiveCampaign may have applied it ("outcome unknown").
 */
export function notAccepted(email: string, error: ActiveCampaignError): ContactOutcome {
  if (error instanceof OutcomeUnknownError) {
    return {
      email,
      status: 'unconfirmed',
      reason:
        `outcome unknown: ActiveCampaign may have applied this contact (the response to its bulk import was ` +
        `lost ${error.lostResponses} time(s)); not confirmed, will be sent again on the next run`,
    };
  }
  if (mayHaveBeenApplied(error)) {
    const answered = error.response?.status ?? 0;
    return {
      email,
      status: 'unconfirmed',
      reason: `outcome unknown: ActiveCampaign answered ${answered} with an unexpected body, so it may have queued this contact; not confirmed (${error.message})`,
    };
  }
  if (error instanceof ValidationFailedError) {
    return {
      email,
      status: 'rejected',
      reason: `request rejected by ActiveCampaign: ${describeFailureReasons(error.failureReasons)}`,
    };
  }
  // Out of retries on failures that leave nothing queued (5xx, 429, connection refused), or refused outright.
  return {
    email,
    status: error.retryable ? 'unconfirmed' : 'rejected',
    reason: `not sent: ${error.message}`,
  };
}
