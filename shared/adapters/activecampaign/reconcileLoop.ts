/**
 * The non-durable reconcile loop behind `importContacts` and `reconcileBatches` (tests, bench, CLI): pushers
 * submit bulk imports while pollers look at every accepted batch as it becomes due, resubmitting
 * `failed`/`interrupted` batches, until every contact has exactly one outcome.
 */
import { isRetryable } from '../../errors';
import {
  type BatchOutcome,
  type ContactOutcome,
  emailsOf,
  notAccepted,
  toBatchOutcome,
} from './batchOutcome';
import type { ActiveCampaignClient } from './client';
import type { Clock } from './clock';
import { ActiveCampaignError, mayHaveBeenApplied, OutcomeUnknownError } from './errors';
import type { BulkImportRequest, BulkImportResult } from './schemas';

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
 * The engine of `importContacts` and `reconcileBatches` (one instance per call; `run` once). Pushers submit `requests` (`pushers` at a time, each
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
export async function pushAndReconcile(
  client: ActiveCampaignClient,
  requests: Iterable<BulkImportRequest>,
  submitted: readonly SubmittedBatch[],
  options: ReconcileOptions,
  pushers: number,
): Promise<ReconcileResult> {
  return new ReconcileLoop(client, requests, submitted, options, pushers).run();
}

/** The state of one `pushAndReconcile` call, shared by its pushers and pollers. */
class ReconcileLoop {
  private readonly clock: Clock;
  private readonly maxResubmits: number;
  private readonly firstPoll: number;
  private readonly maxPoll: number;
  private readonly pollers: number;
  private readonly deadline: number;
  private readonly outcomes: ContactOutcome[] = [];
  private readonly requestCounts: ImportRequestCounts = {
    bulkImports: 0,
    ambiguousResends: 0,
    outcomeUnknown: 0,
  };
  private resubmits = 0;
  private polls = 0;
  private readonly pending: TrackedBatch[] = [];
  private activePushers = 0;
  private pollCredit = 0;
  private inFlight = 0;
  /** Oldest age at which a batch was still being processed, and quickest age at which one was done. */
  private pendingAge = 0;
  private completedAge = Number.POSITIVE_INFINITY;
  /** Wakes pollers waiting for a batch to become due or for pushing to end. */
  private changed = deferred();
  private readonly source: Iterator<BulkImportRequest>;
  private exhausted: boolean;

  constructor(
    private readonly client: ActiveCampaignClient,
    requests: Iterable<BulkImportRequest>,
    submitted: readonly SubmittedBatch[],
    options: ReconcileOptions,
    private readonly pushers: number,
  ) {
    this.clock = options.clock;
    this.maxResubmits = options.maxResubmits ?? 3;
    this.firstPoll = options.firstPollDelayMs ?? 1_500;
    this.maxPoll = options.maxPollDelayMs ?? 30_000;
    this.pollers = Math.max(1, options.pollConcurrency ?? 4);
    this.deadline = this.clock.now() + (options.deadlineMs ?? 6 * 60 * 60_000);
    for (const batch of submitted)
      this.track(batch.batchId, batch.request, 0, (batch.ambiguousResends ?? 0) > 0);
    this.source = requests[Symbol.iterator]();
    // With no pusher (reconcileBatches) nothing is pushed, so pollers share the whole budget from the start.
    this.exhausted = pushers === 0;
  }

  /** Runs the pushers and pollers to the end; every submitted contact has one outcome. */
  async run(): Promise<ReconcileResult> {
    await Promise.all([
      ...Array.from({ length: this.pushers }, () => this.pusher()),
      ...Array.from({ length: this.pollers }, () => this.poller()),
    ]);
    return {
      outcomes: this.outcomes,
      resubmits: this.resubmits,
      polls: this.polls,
      requests: this.requestCounts,
    };
  }

  private notify(): void {
    this.changed.resolve();
    this.changed = deferred();
  }

  // One batch's trouble never costs the others their outcomes: whatever goes wrong with a batch (out of
  // retries on resubmission, a 404 for an unknown or expired batch id, an undocumented status) makes only
  // that batch's contacts `unconfirmed`, with a reason that says what happened.
  private giveUp(batch: Pick<TrackedBatch, 'request'>, reason: string): void {
    this.outcomes.push(
      ...emailsOf(batch.request).map((email): ContactOutcome => ({ email, status: 'unconfirmed', reason })),
    );
  }

  private track(
    batchId: string,
    request: BulkImportRequest,
    resubmitCount: number,
    ambiguous: boolean,
  ): void {
    this.pending.push({
      batchId,
      request,
      resubmits: resubmitCount,
      acceptedAt: this.clock.now(),
      nextAge: this.firstPoll,
      polled: 0,
      last: 'still processing',
      ambiguous,
    });
    this.notify();
  }

  private dueAt(batch: TrackedBatch): number {
    let age = batch.nextAge;
    if (batch.polled === 0) {
      age = Number.isFinite(this.completedAge)
        ? Math.max(this.firstPoll, this.completedAge * 0.8)
        : Math.max(age, this.pendingAge);
    }
    return Math.min(this.deadline, batch.acceptedAt + age);
  }

  /** Sends one bulk import; the accepted result, or the error that ended it (counted either way). */
  private async submit(request: BulkImportRequest): Promise<BulkImportResult | ActiveCampaignError> {
    try {
      const accepted = await this.client.bulkImport(request);
      this.requestCounts.bulkImports++;
      this.requestCounts.ambiguousResends += accepted.ambiguousResends ?? 0;
      return accepted;
    } catch (error) {
      if (!(error instanceof ActiveCampaignError)) throw error;
      if (error instanceof OutcomeUnknownError) {
        this.requestCounts.outcomeUnknown++;
        this.requestCounts.ambiguousResends += error.ambiguousResends;
      }
      return error;
    }
  }

  private nextRequest(): BulkImportRequest | undefined {
    if (this.exhausted) return undefined;
    const next = this.source.next();
    if (next.done) this.exhausted = true;
    return next.done ? undefined : next.value;
  }

  private async pusher(): Promise<void> {
    this.activePushers++;
    try {
      for (;;) {
        // Building a request is synchronous work (checking and cutting 250 contacts): let the requests that
        // already hold their slot go out first, so the first request is not held back by the next ones.
        await nextTurn();
        const request = this.nextRequest();
        if (!request) break;
        const result = await this.submit(request);
        if (result instanceof ActiveCampaignError)
          this.outcomes.push(...emailsOf(request).map((email) => notAccepted(email, result)));
        else {
          // One poll may be reserved per bulk import while pushing (see the scheduling notes above).
          this.pollCredit = 1;
          this.track(result.batchId, request, 0, (result.ambiguousResends ?? 0) > 0);
        }
      }
    } finally {
      this.activePushers--;
      this.notify();
    }
  }

  /** One `import/info` look at a batch, and what follows from the answer. */
  private async look(batch: TrackedBatch): Promise<void> {
    this.polls++;
    batch.polled++;
    let outcome: BatchOutcome;
    try {
      outcome = toBatchOutcome(await this.client.getImportInfo(batch.batchId), emailsOf(batch.request));
    } catch (error) {
      if (!(error instanceof ActiveCampaignError)) throw error;
      if (!isRetryable(error)) {
        this.giveUp(batch, `import/info for batch ${batch.batchId} failed: ${error.message}`);
        return;
      }
      // The client already retried; look again later.
      return this.again(batch, `import/info failing (${error.message})`);
    }
    const age = this.clock.now() - batch.acceptedAt;
    if (outcome.state === 'pending') {
      this.pendingAge = Math.max(this.pendingAge, Math.min(age, this.maxPoll));
      const last =
        outcome.status === 'unknown'
          ? `import/info reports an undocumented status ${JSON.stringify(outcome.reported.slice(0, 50))}`
          : 'still processing';
      return this.again(batch, last);
    }
    if (outcome.state === 'inconsistent') {
      this.giveUp(batch, `batch ${batch.batchId} completed but ${outcome.reason}`);
      return;
    }
    this.completedAge = Math.min(this.completedAge, age);
    if (outcome.state === 'completed') return this.settle(batch, outcome);
    return this.resubmit(batch, outcome.status);
  }

  /** A completed batch: one outcome per contact it carried. */
  private settle(batch: TrackedBatch, outcome: Extract<BatchOutcome, { state: 'completed' }>): void {
    const twice = batch.ambiguous ? ({ mayHaveBeenAppliedTwice: true } as const) : {};
    this.outcomes.push(
      ...outcome.confirmed.map((email): ContactOutcome => ({ email, status: 'confirmed', ...twice })),
    );
    this.outcomes.push(
      ...outcome.failed.map((f): ContactOutcome => ({
        email: f.email,
        status: 'rejected',
        reason: f.reason,
        ...twice,
      })),
    );
  }

  /** A `failed`/`interrupted` batch: sent again at once, or given up past `maxResubmits`. */
  private async resubmit(batch: TrackedBatch, status: 'failed' | 'interrupted'): Promise<void> {
    if (batch.resubmits >= this.maxResubmits) {
      this.giveUp(batch, `batch ${status} ${batch.resubmits + 1} times; will be retried on the next run`);
      return;
    }
    // Resubmitted as soon as seen (imports upsert by email, so a resubmission is safe).
    const result = await this.submit(batch.request);
    if (result instanceof ActiveCampaignError) {
      this.giveUp(
        batch,
        mayHaveBeenApplied(result)
          ? `batch ${status}; its resubmission's outcome is unknown (ActiveCampaign may have applied it): ${result.message}`
          : `batch ${status}; its resubmission failed: ${result.message}`,
      );
      return;
    }
    this.resubmits++;
    this.track(
      result.batchId,
      batch.request,
      batch.resubmits + 1,
      batch.ambiguous || (result.ambiguousResends ?? 0) > 0,
    );
  }

  /** A batch not done yet: back in the queue with its next look's age, or given up at the deadline. */
  private again(batch: TrackedBatch, last: string): void {
    if (this.clock.now() >= this.deadline) {
      this.giveUp(batch, `batch ${batch.batchId} ${last} at the deadline`);
      return;
    }
    const age = this.clock.now() - batch.acceptedAt;
    const step = Math.min(this.maxPoll, Math.max(this.firstPoll / 4, age * 0.1));
    // A batch still pending short of the quickest completion seen is next looked at when it reaches that age,
    // if that comes before the next step: the look most likely to find it done, and no later than needed.
    batch.nextAge = this.completedAge > age ? Math.min(age + step, this.completedAge) : age + step;
    batch.last = last;
    this.pending.push(batch);
  }

  private async poller(): Promise<void> {
    for (;;) {
      const pushing = this.activePushers > 0 || !this.exhausted;
      if (this.pending.length === 0 || (pushing && this.pollCredit === 0)) {
        if (!pushing && this.inFlight === 0 && this.pending.length === 0) return;
        await this.changed.promise;
        continue;
      }
      let next = 0;
      for (let i = 1; i < this.pending.length; i++)
        if (this.dueAt(this.pending[i]!) < this.dueAt(this.pending[next]!)) next = i;
      const wait = this.dueAt(this.pending[next]!) - this.clock.now();
      if (wait > 0) {
        const stop = new AbortController();
        await Promise.race([this.clock.sleep(wait, stop.signal).catch(() => {}), this.changed.promise]);
        stop.abort();
        continue;
      }
      const [batch] = this.pending.splice(next, 1);
      if (pushing) this.pollCredit = 0;
      this.inFlight++;
      try {
        await this.look(batch!);
      } finally {
        this.inFlight--;
        this.notify();
      }
    }
  }
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
