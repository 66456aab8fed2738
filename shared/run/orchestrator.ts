/**
 * The export run as Durable orchestrations (docs/architecture.md, "An export run"):
 *
 *   Prepare ──▶ Push slice 1 ─▶ reconcile slice 1 (sub-orchestration: durable timers, import/info, resubmits)
 *               Push slice 2 ─▶ reconcile slice 2            ...all under the account's one budget
 *               ...              ...
 *           ──▶ Finalise (report, snapshot, next run)
 *
 * Push keeps `tuning.pushWindow` slices in flight so the bulk-import budget never idles, and each pushed slice
 * is reconciled by its own sub-orchestration while later slices are still being pushed. The orchestrators are
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
  PrepareOutput,
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

/** A task that has finished, one way or the other. */
function isDone(task: df.Task): boolean {
  return task.isCompleted || task.isFaulted;
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
  const result = yield* pushAndReconcile(context, run, prepare.slices, (summary, pushed) => {
    if (pushed !== undefined) report({ slicesPushed: pushed });
    if (summary)
      report({
        slicesReconciled: progress.slicesReconciled + 1,
        confirmed: progress.confirmed + summary.confirmed + summary.unsubscribed,
        failed: progress.failed + summary.failed,
        stage: progress.slicesPushed === prepare.slices ? 'reconciling' : progress.stage,
      });
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

interface InFlight {
  kind: 'push' | 'reconcile';
  slice: number;
  task: df.Task;
}

/**
 * Pushes slices 1..count with `pushWindow` in flight, starting each slice's reconcile sub-orchestration the
 * moment its push returns. Stops starting pushes when one reports the run canceled, or fails outright; the
 * slices already sent are still reconciled, so the report says exactly which contacts were confirmed.
 */
function* pushAndReconcile(
  context: Ctx,
  run: RunInput,
  count: number,
  onProgress: (summary: SliceSummary | undefined, pushed: number | undefined) => void,
): Step<{ summaries: SliceSummary[]; canceled: boolean; failure?: string; lastPushAt: Date }> {
  const inFlight: InFlight[] = [];
  const summaries: SliceSummary[] = [];
  let next = 1;
  let pushed = 0;
  let canceled = false;
  let failure: string | undefined;
  let lastPushAt = context.df.currentUtcDateTime;
  const pushesInFlight = () => inFlight.filter((f) => f.kind === 'push').length;

  for (;;) {
    while (!canceled && failure === undefined && next <= count && pushesInFlight() < run.tuning.pushWindow) {
      const slice = next++;
      inFlight.push({
        kind: 'push',
        slice,
        task: context.df.callActivity(RUN_FUNCTIONS.pushSlice, {
          exportId: run.exportId,
          runId: run.runId,
          slice,
          attempt: 0,
        }),
      });
    }
    if (inFlight.length === 0) break;
    // A task that finished in the same history batch as another is handled without waiting again:
    // a new Task.any over an already finished task would never complete.
    let done = inFlight.find((f) => isDone(f.task));
    if (!done) {
      const winner = yield context.df.Task.any(inFlight.map((f) => f.task));
      done = inFlight.find((f) => f.task === winner) ?? inFlight.find((f) => isDone(f.task));
    }
    if (!done) throw new Error('Task.any returned a task the run did not start');
    inFlight.splice(inFlight.indexOf(done), 1);

    if (done.kind === 'push') {
      if (done.task.isFaulted) {
        failure ??= `Push of slice ${done.slice} failed: ${messageOf(done.task.result)}`;
        continue;
      }
      const output = PushSliceOutput.parse(done.task.result);
      pushed++;
      lastPushAt = context.df.currentUtcDateTime;
      if (output.canceled.length > 0) canceled = true;
      onProgress(undefined, pushed);
      inFlight.push({
        kind: 'reconcile',
        slice: done.slice,
        task: context.df.callSubOrchestrator(
          RUN_FUNCTIONS.reconcileSlice,
          {
            exportId: run.exportId,
            runId: run.runId,
            slice: done.slice,
            pushed: output,
            tuning: run.tuning,
          } satisfies ReconcileSliceInput,
          `${run.runId}-slice-${done.slice}`,
        ),
      });
    } else {
      if (done.task.isFaulted) {
        failure ??= `Reconciling slice ${done.slice} failed: ${messageOf(done.task.result)}`;
        continue;
      }
      const summary = SliceSummary.parse(done.task.result);
      summaries.push(summary);
      onProgress(summary, undefined);
    }
  }
  summaries.sort((a, b) => a.slice - b.slice);
  return { summaries, canceled, ...(failure ? { failure } : {}), lastPushAt };
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
