/**
 * Turning ActiveCampaign's asynchronous import batches into per-contact outcomes.
 *
 * `toBatchOutcome` is the single-shot, pure mapping the Durable orchestration uses between its own durable
 * timers. `reconcileBatches` and `importContacts` are the non-durable loop (tests, bench, CLI): poll until
 * every batch is terminal with backoff, resubmit `failed`/`interrupted` batches a bounded number of times
 * (ActiveCampaign never retries those itself; resubmitting is safe because imports upsert by email), and
 * report each contact as confirmed or rejected with a reason.
 */
import { isRetryable } from '../../errors';
import { isAcceptableEmail, toBulkImportRequests } from './batches';
import type { ActiveCampaignClient } from './client';
import type { Clock } from './clock';
import {
  ActiveCampaignError,
  mayHaveBeenApplied,
  OutcomeUnknownError,
  ValidationFailedError,
} from './errors';
import type { BulkImportContact, BulkImportRequest, FailureReason, ImportInfo } from './schemas';

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
}

/** A batch that ActiveCampaign accepted, with the request that produced it (to resubmit it). */
export interface SubmittedBatch {
  batchId: string;
  request: BulkImportRequest;
}

/** Tuning of the non-durable reconcile loop. */
export interface ReconcileOptions {
  clock: Clock;
  /** Resubmissions allowed per original batch when it ends `failed` or `interrupted`. */
  maxResubmits?: number;
  /** First look after this long (ActiveCampaign answers `false` within about a second of the POST). */
  firstPollDelayMs?: number;
  /** Polling backoff ceiling. */
  maxPollDelayMs?: number;
  /** Give up (contacts become `unconfirmed`) after this long. */
  deadlineMs?: number;
}

/** The result of reconciling batches: every contact exactly once, plus what it took. */
export interface ReconcileResult {
  outcomes: ContactOutcome[];
  resubmits: number;
  polls: number;
}

/** Polls every batch until terminal, resubmitting failed/interrupted ones; one outcome per submitted contact. */
export async function reconcileBatches(
  client: ActiveCampaignClient,
  submitted: readonly SubmittedBatch[],
  options: ReconcileOptions,
): Promise<ReconcileResult> {
  const maxResubmits = options.maxResubmits ?? 3;
  const firstPoll = options.firstPollDelayMs ?? 1_500;
  const maxPoll = options.maxPollDelayMs ?? 30_000;
  const deadline = options.clock.now() + (options.deadlineMs ?? 6 * 60 * 60_000);
  const outcomes: ContactOutcome[] = [];
  // One batch's trouble never costs the others their outcomes: whatever goes wrong with a batch (out of
  // retries on resubmission, a 404 for an unknown or expired batch id, an undocumented status) makes only
  // that batch's contacts `unconfirmed`, with a reason that says what happened.
  const giveUp = (batch: SubmittedBatch, reason: string) =>
    outcomes.push(
      ...emailsOf(batch.request).map((email): ContactOutcome => ({ email, status: 'unconfirmed', reason })),
    );
  let pending = submitted.map((b) => ({
    ...b,
    resubmits: 0,
    submittedAt: options.clock.now(),
    /** What the last look said, for the reason when the deadline passes. */
    last: 'still processing',
  }));
  let resubmits = 0;
  let polls = 0;
  let delay = firstPoll;
  await options.clock.sleep(firstPoll);
  while (pending.length > 0) {
    const next: typeof pending = [];
    for (const batch of pending) {
      polls++;
      let outcome: BatchOutcome;
      try {
        outcome = toBatchOutcome(await client.getImportInfo(batch.batchId), emailsOf(batch.request));
      } catch (error) {
        if (!(error instanceof ActiveCampaignError)) throw error;
        if (!isRetryable(error)) {
          giveUp(batch, `import/info for batch ${batch.batchId} failed: ${error.message}`);
          continue;
        }
        // The client already retried; look again next round.
        next.push({ ...batch, last: `import/info failing (${error.message})` });
        continue;
      }
      if (outcome.state === 'pending') {
        const last =
          outcome.status === 'unknown'
            ? `import/info reports an undocumented status ${JSON.stringify(outcome.reported.slice(0, 50))}`
            : 'still processing';
        next.push({ ...batch, last });
      } else if (outcome.state === 'inconsistent') {
        giveUp(batch, `batch ${batch.batchId} completed but ${outcome.reason}`);
      } else if (outcome.state === 'completed') {
        outcomes.push(...outcome.confirmed.map((email): ContactOutcome => ({ email, status: 'confirmed' })));
        outcomes.push(
          ...outcome.failed.map((f): ContactOutcome => ({
            email: f.email,
            status: 'rejected',
            reason: f.reason,
          })),
        );
      } else if (batch.resubmits >= maxResubmits) {
        giveUp(
          batch,
          `batch ${outcome.status} ${batch.resubmits + 1} times; will be retried on the next run`,
        );
      } else {
        let accepted;
        try {
          accepted = await client.bulkImport(batch.request);
        } catch (error) {
          if (!(error instanceof ActiveCampaignError)) throw error;
          giveUp(batch, `batch ${outcome.status}; its resubmission failed: ${error.message}`);
          continue;
        }
        resubmits++;
        next.push({
          ...batch,
          batchId: accepted.batchId,
          resubmits: batch.resubmits + 1,
          submittedAt: options.clock.now(),
          last: 'still processing',
        });
      }
    }
    pending = next;
    if (pending.length === 0) break;
    if (options.clock.now() >= deadline) {
      for (const batch of pending) giveUp(batch, `batch ${batch.batchId} ${batch.last} at the deadline`);
      break;
    }
    await options.clock.sleep(delay);
    delay = Math.min(maxPoll, delay * 1.5);
  }
  return { outcomes, resubmits, polls };
}

/** Options of `importContacts`. */
export interface ImportContactsOptions extends ReconcileOptions {
  /** Bulk imports in flight at once (each still waits for the account's budget). */
  concurrency?: number;
}

/** Pure: what ActiveCampaign's whole-request validation said, as one reason line. */
export function describeFailureReasons(reasons: readonly FailureReason[]): string {
  return reasons
    .map((r) => (typeof r === 'string' ? r : `contact ${r.contact ?? '?'}: ${r.failureReason}`))
    .join('; ')
    .slice(0, 500);
}

/**
 * Non-durable end-to-end push (tests, bench, CLI): rejects invalid and duplicate emails locally, submits
 * the rest in bulk requests, reconciles every batch, and returns one outcome per input contact.
 */
export async function importContacts(
  client: ActiveCampaignClient,
  contacts: readonly BulkImportContact[],
  options: ImportContactsOptions,
): Promise<ReconcileResult> {
  const outcomes: ContactOutcome[] = [];
  const seen = new Set<string>();
  const valid: BulkImportContact[] = [];
  for (const contact of contacts) {
    const key = contact.email.trim().toLowerCase();
    if (!contact.email.trim())
      outcomes.push({ email: contact.email, status: 'rejected', reason: 'missing email' });
    else if (!isAcceptableEmail(contact.email)) {
      outcomes.push({ email: contact.email, status: 'rejected', reason: 'invalid email format' });
    } else if (seen.has(key)) {
      outcomes.push({ email: contact.email, status: 'rejected', reason: 'duplicate email' });
    } else {
      seen.add(key);
      valid.push(contact);
    }
  }
  const requests = toBulkImportRequests(valid);
  const submitted: SubmittedBatch[] = [];
  let index = 0;
  const worker = async () => {
    while (index < requests.length) {
      const request = requests[index++]!;
      try {
        submitted.push({ batchId: (await client.bulkImport(request)).batchId, request });
      } catch (error) {
        if (!(error instanceof ActiveCampaignError)) throw error;
        outcomes.push(...emailsOf(request).map((email) => notAccepted(email, error)));
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 4) }, worker));
  const reconciled = await reconcileBatches(client, submitted, options);
  return { ...reconciled, outcomes: [...outcomes, ...reconciled.outcomes] };
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
