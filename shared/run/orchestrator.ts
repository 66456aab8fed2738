/**
 * The export run as Durable orchestrations (docs/architecture.md, "An export run"):
 *
 *   Prepare ──▶ lane 1: Push slice 1 ─▶ Push slice 4 + reconcile slice 1 ─▶ ...   (reconcile: durable timers,
 *               lane 2: Push slice 2 ─▶ Push slice 5 + reconcile slice 2 ─▶ ...    import/info, resubmits)
 *               lane 3: ...                                  ...all under the account's one budget
 *               ...              ...
 *           ──▶ Finalise (report, snapshot, next run)
 *
 * Push keeps `tuning.pushWindow` slices in flight (one per push lane) so the bulk-import budget never idles, and
 * each pushed slice is reconciled by its own sub-orchestration while later slices are still being pushed. The orchestrators are
 * deterministic: time comes from `currentUtcDateTime`, every setting arrives in the input, and they do no I/O.
 * Payloads are ids, counts and blob references (payloads.ts).
 *
 * Who retries what: the ActiveCampaign client retries transport faults and throttling inside one call (with
 * Retry-After), so activities are called without Durable retries on top: a retried Push would only repeat
 * what the client already gave up on. Push and Check record every outcome in blob storage before returning,
 * so an activity the host re-runs after a crash never sends a request twice. Failed/interrupted batches are
 * resubmitted here, a bounded number of times (`tuning.maxResubmits`).
 */
import type * as df from 'durable-functions';

import { RUN_FUNCTIONS } from './names';
import {
  type CheckSliceInput,
  CheckSliceOutput,
  type FinaliseInput,
  type LaneProgress,
  PrepareOutput,
  PushLaneInput,
  type PushLaneInput as PushLaneInputType,
  PushLaneOutput,
  type PushSliceInput,
  PushSliceOutput,
  type ReconcileSliceInput,
  ReconcileSliceInput as ReconcileSliceInputSchema,
  RunInput,
  RunOutput,
  type RunProgress,
  SliceSummary,
} from './payloads';

type Ctx = df.OrchestrationContext;
type Step<T> = Generator<df.Task, T, unknown>;

/** Milliseconds since the orchestration's clock `from` (replay-safe). */
function since(context: Ctx, from: Date): number {
  return context.df.currentUtcDateTime.getTime() - from.getTime();
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The `exportRun` orchestrator: one run of one export (instance id = run id). */
export function* exportRunOrchestrator(context: Ctx): Step<RunOutput> {
  const run = RunInput.parse(context.df.getInput());
  const started = context.df.currentUtcDateTime;
  const progress: RunProgress = {
    stage: 'preparing',
    slicesPushed: 0,
    slicesReconciled: 0,
    confirmed: 0,
    failed: 0,
    updatedAt: started.toISOString(),
  };
  const report = (patch: Partial<RunProgress>) => {
    Object.assign(progress, patch, { updatedAt: context.df.currentUtcDateTime.toISOString() });
    context.df.setCustomStatus(progress);
  };
  report({});

  const finalise = function* (rest: Omit<FinaliseInput, 'run' | 'startedAt'>): Step<RunOutput> {
    report({ stage: 'finalising' });
    const output = RunOutput.parse(
      yield context.df.callActivity(RUN_FUNCTIONS.finalise, {
        run,
        startedAt: started.toISOString(),
        ...rest,
      } satisfies FinaliseInput),
    );
    report({ stage: 'done' });
    return output;
  };

  let prepare: PrepareOutput;
  try {
    prepare = PrepareOutput.parse(yield context.df.callActivity(RUN_FUNCTIONS.prepare, run));
  } catch (error) {
    return yield* finalise({
      slices: [],
      stop: { status: 'failed', code: 'prepare_failed', reason: messageOf(error) },
      stageMs: { prepare: since(context, started), push: 0, reconcile: 0 },
    });
  }
  const prepareMs = since(context, started);
  if (!prepare.ok) {
    return yield* finalise({
      prepare,
      slices: [],
      stop: { status: 'failed', code: prepare.code, reason: prepare.reason },
      stageMs: { prepare: prepareMs, push: 0, reconcile: 0 },
    });
  }
  if (run.dryRun || prepare.slices === 0) {
    return yield* finalise({ prepare, slices: [], stageMs: { prepare: prepareMs, push: 0, reconcile: 0 } });
  }

  const pushStarted = context.df.currentUtcDateTime;
  report({
    stage: 'pushing',
    total: prepare.counts.toSend + prepare.counts.toUnsubscribe,
    slices: prepare.slices,
    pushStartedAt: pushStarted.toISOString(),
  });
  report({ lanes: Math.min(run.tuning.pushWindow, prepare.slices) });
  const result = yield* pushAndReconcile(context, run, prepare.slices);
  report({
    slicesPushed: prepare.slices,
    slicesReconciled: result.summaries.length,
    confirmed: result.summaries.reduce((n, s) => n + s.confirmed + s.unsubscribed, 0),
    failed: result.summaries.reduce((n, s) => n + s.failed, 0),
  });
  const stop: FinaliseInput['stop'] = result.failure
    ? { status: 'failed', code: 'push_failed', reason: result.failure }
    : result.canceled
      ? { status: 'canceled', code: 'canceled', reason: 'The run was canceled; nothing more was sent.' }
      : undefined;
  return yield* finalise({
    prepare,
    slices: result.summaries,
    ...(stop ? { stop } : {}),
    stageMs: {
      prepare: prepareMs,
      push: result.lastPushAt.getTime() - pushStarted.getTime(),
      reconcile: Math.max(0, context.df.currentUtcDateTime.getTime() - result.lastPushAt.getTime()),
    },
  });
}

/**
 * Pushes slices 1..count in `pushWindow` lanes (sub-orchestrations): lane k pushes slices k, k + lanes, ...
 * one after another, and starts each slice's reconcile sub-orchestration together with its next push, so
 * `pushWindow` pushes are always in flight and reconciling runs alongside them. Each task is yielded exactly
 * once: yielding an already scheduled task inside a new `Task.any` would schedule it a second time in the
 * replay (the actions of a compound task are flattened into the history), which is why a sliding window over
 * one `Task.any` is not used.
 */
function* pushAndReconcile(
  context: Ctx,
  run: RunInput,
  count: number,
): Step<{ summaries: SliceSummary[]; canceled: boolean; failure?: string; lastPushAt: Date }> {
  const lanes = Math.min(run.tuning.pushWindow, count);
  const outputs = (yield context.df.Task.all(
    Array.from({ length: lanes }, (_, i) =>
      context.df.callSubOrchestrator(
        RUN_FUNCTIONS.pushLane,
        {
          exportId: run.exportId,
          runId: run.runId,
          lane: i + 1,
          lanes,
          slices: count,
          tuning: run.tuning,
        } satisfies PushLaneInputType,
        `${run.runId}-lane-${i + 1}`,
      ),
    ),
  )) as unknown[];
  const results = outputs.map((o) => PushLaneOutput.parse(o));
  const failure = results.find((r) => r.failure)?.failure;
  return {
    summaries: results.flatMap((r) => r.summaries).sort((x, y) => x.slice - y.slice),
    canceled: results.some((r) => r.canceled),
    ...(failure ? { failure } : {}),
    lastPushAt: new Date(Math.max(...results.map((r) => Date.parse(r.lastPushAt)))),
  };
}

/** The `pushLane` sub-orchestrator: see `pushAndReconcile`. Its custom status is its progress. */
export function* pushLaneOrchestrator(context: Ctx): Step<PushLaneOutput> {
  const input = PushLaneInput.parse(context.df.getInput());
  const progress: LaneProgress = { slicesPushed: 0, slicesReconciled: 0, confirmed: 0, failed: 0 };
  const summaries: SliceSummary[] = [];
  const settle = (summary: SliceSummary) => {
    summaries.push(summary);
    progress.slicesReconciled++;
    progress.confirmed += summary.confirmed + summary.unsubscribed;
    progress.failed += summary.failed;
  };
  let reconciling: df.Task | undefined;
  let canceled = false;
  let failure: string | undefined;
  let lastPushAt = context.df.currentUtcDateTime;
  for (let slice = input.lane; slice <= input.slices && !canceled; slice += input.lanes) {
    const push = context.df.callActivity(RUN_FUNCTIONS.pushSlice, {
      exportId: input.exportId,
      runId: input.runId,
      slice,
      attempt: 0,
    } satisfies PushSliceInput);
    let results: unknown[];
    try {
      results = (yield context.df.Task.all(reconciling ? [push, reconciling] : [push])) as unknown[];
    } catch (error) {
      // What was sent is in blob storage; Finalise reports it. Nothing more is sent by this lane.
      failure = `Push of slice ${slice} failed: ${messageOf(error)}`;
      reconciling = undefined;
      break;
    }
    const output = PushSliceOutput.parse(results[0]);
    if (results.length > 1) settle(SliceSummary.parse(results[1]));
    lastPushAt = context.df.currentUtcDateTime;
    progress.slicesPushed++;
    if (output.canceled.length > 0) canceled = true;
    context.df.setCustomStatus(progress);
    reconciling = context.df.callSubOrchestrator(
      RUN_FUNCTIONS.reconcileSlice,
      {
        exportId: input.exportId,
        runId: input.runId,
        slice,
        pushed: output,
        tuning: input.tuning,
      } satisfies ReconcileSliceInput,
      `${input.runId}-slice-${slice}`,
    );
  }
  if (reconciling) {
    settle(SliceSummary.parse(yield reconciling));
    context.df.setCustomStatus(progress);
  }
  return {
    summaries,
    canceled,
    ...(failure ? { failure } : {}),
    lastPushAt: lastPushAt.toISOString(),
  };
}

/**
 * The `reconcileSlice` sub-orchestrator: looks at a slice's batches on durable timers (backing off from
 * `firstPollMs` to `maxPollMs`), resubmits `failed`/`interrupted` ones as soon as a look sees them, and gives
 * up at `reconcileDeadlineMs` (those contacts are reported unconfirmed and sent again next run).
 */
export function* reconcileSliceOrchestrator(context: Ctx): Step<SliceSummary> {
  const input = ReconcileSliceInputSchema.parse(context.df.getInput());
  const { tuning } = input;
  const started = context.df.currentUtcDateTime;
  const summary: SliceSummary = {
    slice: input.slice,
    confirmed: 0,
    failed: 0,
    unsubscribed: 0,
    bulkImport: input.pushed.stats.bulkImport,
    importInfo: 0,
    throttled: input.pushed.stats.throttled,
    resubmits: 0,
    ambiguousResends: 0,
  };
  const batchesOf = (pushed: PushSliceOutput) =>
    pushed.submitted.flatMap((s) =>
      s.batchId ? [{ request: s.request, batchId: s.batchId, attempt: pushed.attempt }] : [],
    );
  const countResends = (pushed: PushSliceOutput) => {
    for (const s of pushed.submitted) summary.ambiguousResends += s.ambiguousResends ?? 0;
  };
  countResends(input.pushed);
  let pending = batchesOf(input.pushed);
  let delay = tuning.firstPollMs;
  // A look also records the requests push could not queue, so one is due even with no batch pending.
  let lookDue = true;
  while (lookDue || pending.length > 0) {
    if (pending.length > 0) {
      yield context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + delay));
      delay = Math.min(delay * 2, tuning.maxPollMs);
    }
    const check = CheckSliceOutput.parse(
      yield context.df.callActivity(RUN_FUNCTIONS.checkSlice, {
        exportId: input.exportId,
        runId: input.runId,
        slice: input.slice,
        batches: pending,
        giveUp: since(context, started) >= tuning.reconcileDeadlineMs,
        maxResubmits: tuning.maxResubmits,
      } satisfies CheckSliceInput),
    );
    lookDue = false;
    summary.importInfo += check.importInfo;
    summary.confirmed = check.settled.confirmed;
    summary.failed = check.settled.failed;
    summary.unsubscribed = check.settled.unsubscribed;
    pending = check.pending;
    if (check.resubmit.length === 0) continue;
    // Resubmitted at once, in one Push of the requests concerned (each at its next attempt).
    const attempt = Math.max(...check.resubmit.map((r) => r.attempt)) + 1;
    const resent = PushSliceOutput.parse(
      yield context.df.callActivity(RUN_FUNCTIONS.pushSlice, {
        exportId: input.exportId,
        runId: input.runId,
        slice: input.slice,
        requests: check.resubmit.map((r) => r.request),
        attempt,
      } satisfies PushSliceInput),
    );
    summary.resubmits += check.resubmit.length;
    summary.bulkImport += resent.stats.bulkImport;
    summary.throttled += resent.stats.throttled;
    countResends(resent);
    pending = [...pending, ...batchesOf(resent)];
    lookDue = resent.submitted.some((s) => !s.batchId);
    delay = tuning.firstPollMs;
  }
  return summary;
}
