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
import { bulkImportRequestsOf, isAcceptableEmail } from './batches';
import { type ActiveCampaignClient, MAX_BULK_IMPORT_BYTES } from './client';
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
  /**
   * Set when the bulk import that carried this contact was sent again after its response was lost: the
   * contact may have been applied twice (same content, so harmless for an upsert; reported, never silent).
   */
  mayHaveBeenAppliedTwice?: true;
}

/** A batch that ActiveCampaign accepted, with the request that produced it (to resubmit it). */
export interface SubmittedBatch {
  batchId: string;
  request: BulkImportRequest;
  /** From `bulkImport`'s result: earlier sends of this request that may also have been applied. */
  ambiguousResends?: number;
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
  /** `import/info` polls in flight at once once nothing is being pushed (each waits for the request budget). */
  pollConcurrency?: number;
}

/** What the bulk imports of a run took, for its report. */
export interface ImportRequestCounts {
  /** Bulk imports ActiveCampaign accepted (first submissions and resubmissions). */
  bulkImports: number;
  /**
   * Sends of a bulk import after its response was lost, each of which may have applied the same contacts
   * again (bounded per request by the client's `maxAmbiguousResends`).
   */
  ambiguousResends: number;
  /** Bulk imports given up with their outcome unknown (their contacts are `unconfirmed`). */
  outcomeUnknown: number;
}

/** The result of reconciling batches: every contact exactly once, plus what it took. */
export interface ReconcileResult {
  outcomes: ContactOutcome[];
  resubmits: number;
  polls: number;
  requests: ImportRequestCounts;
}

/** Polls every batch until terminal, resubmitting failed/interrupted ones; one outcome per submitted contact. */
export async function reconcileBatches(
  client: ActiveCampaignClient,
  submitted: readonly SubmittedBatch[],
  options: ReconcileOptions,
): Promise<ReconcileResult> {
  return pushAndReconcile(client, [], submitted, options, 0);
}

/** Options of `importContacts`. */
export interface ImportContactsOptions extends ReconcileOptions {
  /** Bulk imports in flight at once (each still waits for the account's budget). */
  concurrency?: number;
}

/**
 * Non-durable end-to-end push (tests, bench, CLI): rejects invalid, duplicate and oversized contacts locally,
 * submits the rest in bulk requests, reconciles every batch WHILE pushing goes on, and returns one outcome per
 * input contact (the local rejections first). The input is checked and cut into requests as the push goes: the
 * first request is sent once its 250 contacts are checked, not after the whole input (25,000 contacts take a
 * few hundred ms to check, a delay before the first bulk slot that no later slot makes up).
 */
export async function importContacts(
  client: ActiveCampaignClient,
  contacts: readonly BulkImportContact[],
  options: ImportContactsOptions,
): Promise<ReconcileResult> {
  const rejected: ContactOutcome[] = [];
  const requests = bulkImportRequestsOf(checkedContacts(contacts, rejected), {}, (contact, bytes) =>
    rejected.push({
      email: contact.email,
      status: 'rejected',
      reason: `contact is ${bytes} bytes as JSON; a bulk import may carry at most ${MAX_BULK_IMPORT_BYTES} bytes`,
    }),
  );
  const result = await pushAndReconcile(client, requests, [], options, Math.max(1, options.concurrency ?? 4));
  return { ...result, outcomes: [...rejected, ...result.outcomes] };
}

/** The contacts worth sending, in order, as they are read; each invalid or repeated one goes to `rejected`. */
function* checkedContacts(
  contacts: readonly BulkImportContact[],
  rejected: ContactOutcome[],
): Generator<BulkImportContact, void, undefined> {
  const seen = new Set<string>();
  for (const contact of contacts) {
    const key = contact.email.trim().toLowerCase();
    if (!contact.email.trim())
      rejected.push({ email: contact.email, status: 'rejected', reason: 'missing email' });
    else if (!isAcceptableEmail(contact.email)) {
      rejected.push({ email: contact.email, status: 'rejected', reason: 'invalid email format' });
    } else if (seen.has(key)) {
      rejected.push({ email: contact.email, status: 'rejected', reason: 'duplicate email' });
    } else {
      seen.add(key);
      yield contact;
    }
  }
}

/** A batch being reconciled. */
interface TrackedBatch {
  batchId: string;
  request: BulkImportRequest;
  resubmits: number;
  acceptedAt: number;
  /** Age (ms since accepted) of its next look, before the shared estimate of processing time applies. */
  nextAge: number;
  polled: number;
  /** What the last look said, for the reason when the deadline passes. */
  last: string;
  /** Sent again after a lost response at some point: its contacts may have been applied twice. */
  ambiguous: boolean;
}

/**
 * The engine of `importContacts` and `reconcileBatches`. Pushers submit `requests` (`pushers` at a time, each
 * taking the next request from the iterator when it is ready to send one);
 * pollers look at every accepted batch as it becomes due, while pushing goes on; a `failed`/`interrupted`
 * batch is resubmitted by the poller that saw it, at once.
 *
 * Scheduling within the one request budget (its reservations are first come, first served):
 * - While anything is being pushed, a poll may start only on a credit that each accepted bulk import gives
 *   (at most one held). Each bulk import takes one of the ~2.75 request slots between two bulk slots; one
 *   poll reserved between two bulk reservations always fits before the next bulk slot, a second one would
 *   push it back. So polls ride along at up to one per bulk import (several in flight, as each waits behind
 *   the bulk slots already reserved) and never slow the push down. Once pushing is over, the
 *   `pollConcurrency` pollers share the whole request budget.
 * - When a batch is due: ActiveCampaign does not say how long processing takes, so the loop learns it.
 *   Before any batch has completed, no batch is looked at younger than the oldest age at which one was still
 *   pending (the oldest batch probes; the others do not ask the same question). Afterwards a batch's first
 *   look is at 80% of the quickest completion seen (so the estimate can still fall), then every 10% of its
 *   age (at least `firstPollDelayMs / 4`, at most `maxPollDelayMs`), or at the quickest completion's age
 *   when that comes first. Ages are taken when an answer arrives: a look that waited for its request slot
 *   still reports the batch as of its send (the same age but the round trip), and a slow answer is thereby
 *   counted in the estimate, so the next batches' looks come back with their answer at about the right time.
 */
async function pushAndReconcile(
  client: ActiveCampaignClient,
  requests: Iterable<BulkImportRequest>,
  submitted: readonly SubmittedBatch[],
  options: ReconcileOptions,
  pushers: number,
): Promise<ReconcileResult> {
  const clock = options.clock;
  const maxResubmits = options.maxResubmits ?? 3;
  const firstPoll = options.firstPollDelayMs ?? 1_500;
  const maxPoll = options.maxPollDelayMs ?? 30_000;
  const pollers = Math.max(1, options.pollConcurrency ?? 4);
  const deadline = clock.now() + (options.deadlineMs ?? 6 * 60 * 60_000);
  const outcomes: ContactOutcome[] = [];
  const requestCounts: ImportRequestCounts = { bulkImports: 0, ambiguousResends: 0, outcomeUnknown: 0 };
  let resubmits = 0;
  let polls = 0;
  const pending: TrackedBatch[] = [];
  let activePushers = 0;
  let pollCredit = 0;
  let inFlight = 0;
  /** Oldest age at which a batch was still being processed, and quickest age at which one was done. */
  let pendingAge = 0;
  let completedAge = Number.POSITIVE_INFINITY;

  // Wakes pollers waiting for a batch to become due or for pushing to end.
  let changed = deferred();
  const notify = () => {
    changed.resolve();
    changed = deferred();
  };

  // One batch's trouble never costs the others their outcomes: whatever goes wrong with a batch (out of
  // retries on resubmission, a 404 for an unknown or expired batch id, an undocumented status) makes only
  // that batch's contacts `unconfirmed`, with a reason that says what happened.
  const giveUp = (batch: Pick<TrackedBatch, 'request'>, reason: string) =>
    outcomes.push(
      ...emailsOf(batch.request).map((email): ContactOutcome => ({ email, status: 'unconfirmed', reason })),
    );
  const track = (batchId: string, request: BulkImportRequest, resubmitCount: number, ambiguous: boolean) => {
    pending.push({
      batchId,
      request,
      resubmits: resubmitCount,
      acceptedAt: clock.now(),
      nextAge: firstPoll,
      polled: 0,
      last: 'still processing',
      ambiguous,
    });
    notify();
  };
  const dueAt = (batch: TrackedBatch) => {
    let age = batch.nextAge;
    if (batch.polled === 0) {
      age = Number.isFinite(completedAge)
        ? Math.max(firstPoll, completedAge * 0.8)
        : Math.max(age, pendingAge);
    }
    return Math.min(deadline, batch.acceptedAt + age);
  };
  /** Sends one bulk import; the accepted result, or the error that ended it (counted either way). */
  const submit = async (request: BulkImportRequest) => {
    try {
      const accepted = await client.bulkImport(request);
      requestCounts.bulkImports++;
      requestCounts.ambiguousResends += accepted.ambiguousResends ?? 0;
      return accepted;
    } catch (error) {
      if (!(error instanceof ActiveCampaignError)) throw error;
      if (error instanceof OutcomeUnknownError) {
        requestCounts.outcomeUnknown++;
        requestCounts.ambiguousResends += error.ambiguousResends;
      }
      return error;
    }
  };

  for (const batch of submitted) track(batch.batchId, batch.request, 0, (batch.ambiguousResends ?? 0) > 0);

  const source = requests[Symbol.iterator]();
  // With no pusher (reconcileBatches) nothing is pushed, so pollers share the whole budget from the start.
  let exhausted = pushers === 0;
  const nextRequest = (): BulkImportRequest | undefined => {
    if (exhausted) return undefined;
    const next = source.next();
    if (next.done) exhausted = true;
    return next.done ? undefined : next.value;
  };
  const pusher = async () => {
    activePushers++;
    try {
      for (;;) {
        // Building a request is synchronous work (checking and cutting 250 contacts): let the requests that
        // already hold their slot go out first, so the first request is not held back by the next ones.
        await nextTurn();
        const request = nextRequest();
        if (!request) break;
        const result = await submit(request);
        if (result instanceof ActiveCampaignError)
          outcomes.push(...emailsOf(request).map((email) => notAccepted(email, result)));
        else {
          // One poll may be reserved per bulk import while pushing (see the scheduling notes above).
          pollCredit = 1;
          track(result.batchId, request, 0, (result.ambiguousResends ?? 0) > 0);
        }
      }
    } finally {
      activePushers--;
      notify();
    }
  };

  const look = async (batch: TrackedBatch) => {
    polls++;
    batch.polled++;
    let outcome: BatchOutcome;
    try {
      outcome = toBatchOutcome(await client.getImportInfo(batch.batchId), emailsOf(batch.request));
    } catch (error) {
      if (!(error instanceof ActiveCampaignError)) throw error;
      if (!isRetryable(error)) {
        giveUp(batch, `import/info for batch ${batch.batchId} failed: ${error.message}`);
        return;
      }
      // The client already retried; look again later.
      return again(batch, `import/info failing (${error.message})`);
    }
    const age = clock.now() - batch.acceptedAt;
    if (outcome.state === 'pending') {
      pendingAge = Math.max(pendingAge, Math.min(age, maxPoll));
      const last =
        outcome.status === 'unknown'
          ? `import/info reports an undocumented status ${JSON.stringify(outcome.reported.slice(0, 50))}`
          : 'still processing';
      return again(batch, last);
    }
    if (outcome.state === 'inconsistent') {
      giveUp(batch, `batch ${batch.batchId} completed but ${outcome.reason}`);
      return;
    }
    if (outcome.state === 'completed') {
      completedAge = Math.min(completedAge, age);
      const twice = batch.ambiguous ? ({ mayHaveBeenAppliedTwice: true } as const) : {};
      outcomes.push(
        ...outcome.confirmed.map((email): ContactOutcome => ({ email, status: 'confirmed', ...twice })),
      );
      outcomes.push(
        ...outcome.failed.map((f): ContactOutcome => ({
          email: f.email,
          status: 'rejected',
          reason: f.reason,
          ...twice,
        })),
      );
      return;
    }
    completedAge = Math.min(completedAge, age);
    if (batch.resubmits >= maxResubmits) {
      giveUp(batch, `batch ${outcome.status} ${batch.resubmits + 1} times; will be retried on the next run`);
      return;
    }
    // Resubmitted as soon as seen (imports upsert by email, so a resubmission is safe).
    const result = await submit(batch.request);
    if (result instanceof ActiveCampaignError) {
      giveUp(
        batch,
        mayHaveBeenApplied(result)
          ? `batch ${outcome.status}; its resubmission's outcome is unknown (ActiveCampaign may have applied it): ${result.message}`
          : `batch ${outcome.status}; its resubmission failed: ${result.message}`,
      );
      return;
    }
    resubmits++;
    track(
      result.batchId,
      batch.request,
      batch.resubmits + 1,
      batch.ambiguous || (result.ambiguousResends ?? 0) > 0,
    );
  };
  const again = (batch: TrackedBatch, last: string) => {
    if (clock.now() >= deadline) {
      giveUp(batch, `batch ${batch.batchId} ${last} at the deadline`);
      return;
    }
    const age = clock.now() - batch.acceptedAt;
    const step = Math.min(maxPoll, Math.max(firstPoll / 4, age * 0.1));
    // A batch still pending short of the quickest completion seen is next looked at when it reaches that age,
    // if that comes before the next step: the look most likely to find it done, and no later than needed.
    batch.nextAge = completedAge > age ? Math.min(age + step, completedAge) : age + step;
    batch.last = last;
    pending.push(batch);
  };

  const poller = async () => {
    for (;;) {
      const pushing = activePushers > 0 || !exhausted;
      if (pending.length === 0 || (pushing && pollCredit === 0)) {
        if (!pushing && inFlight === 0 && pending.length === 0) return;
        await changed.promise;
        continue;
      }
      let next = 0;
      for (let i = 1; i < pending.length; i++) if (dueAt(pending[i]!) < dueAt(pending[next]!)) next = i;
      const wait = dueAt(pending[next]!) - clock.now();
      if (wait > 0) {
        const stop = new AbortController();
        await Promise.race([clock.sleep(wait, stop.signal).catch(() => {}), changed.promise]);
        stop.abort();
        continue;
      }
      const [batch] = pending.splice(next, 1);
      if (pushing) pollCredit = 0;
      inFlight++;
      try {
        await look(batch!);
      } finally {
        inFlight--;
        notify();
      }
    }
  };

  await Promise.all([...Array.from({ length: pushers }, pusher), ...Array.from({ length: pollers }, poller)]);
  return { outcomes, resubmits, polls, requests: requestCounts };
}

/** Resolves after the event loop's pending I/O and timers have had their turn. */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** A promise with its resolve function, to wake waiters. */
function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve = () => {};
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
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
