/**
 * The zod schema of every payload that crosses the orchestration boundary (inputs, outputs, custom status).
 * They carry ids, counts and blob references only: never contact data, never an API key. Each activity
 * parses its input with these, and the orchestrator its results, so a payload never drifts from its type.
 */
import { z } from 'zod';

/** What started a run. */
export const RunTrigger = z.enum(['http', 'schedule', 'blob', 'runAll', 'followUp', 'cli']);
export type RunTrigger = z.infer<typeof RunTrigger>;

/** The run's final status (the report's `status`). */
export const RunStatus = z.enum(['succeeded', 'succeededWithRejections', 'failed', 'canceled']);
export type RunStatus = z.infer<typeof RunStatus>;

/** A run's stage while it runs. */
export const RunStage = z.enum(['queued', 'preparing', 'pushing', 'reconciling', 'finalising', 'done']);
export type RunStage = z.infer<typeof RunStage>;

/** Timings and bounds of the orchestration, fixed when the run starts (the orchestrator reads no settings). */
export const RunTuning = z.object({
  /** Push activities in flight at once (they share the account's budget; two or three keep it busy). */
  pushWindow: z.number().int().min(1).max(16),
  /** First `import/info` look after a push, and the cap of the backoff between looks. */
  firstPollMs: z.number().int().min(1),
  maxPollMs: z.number().int().min(1),
  /** A batch still pending after this long is given up: its contacts are reported unconfirmed. */
  reconcileDeadlineMs: z.number().int().min(1),
  /** Resubmissions of a `failed`/`interrupted` batch before its contacts are reported failed. */
  maxResubmits: z.number().int().min(0).max(10),
});
export type RunTuning = z.infer<typeof RunTuning>;

/** The orchestrator's input. */
export const RunInput = z.object({
  exportId: z.string().min(1),
  runId: z.string().min(1),
  trigger: RunTrigger,
  dryRun: z.boolean(),
  fullResync: z.boolean(),
  /** The unsubscribe count the caller confirmed (mirror mode's mass-departure guard). */
  confirmUnsubscribes: z.number().int().nonnegative().optional(),
  requestedBy: z.string(),
  tuning: RunTuning,
});
export type RunInput = z.infer<typeof RunInput>;

/** Prepare's counts, as the report shows them (see report.ts for how they add up). */
export const PlanCounts = z.object({
  rows: z.number(),
  valid: z.number(),
  rejected: z.number(),
  duplicates: z.number(),
  unchanged: z.number(),
  added: z.number(),
  changed: z.number(),
  toSend: z.number(),
  toUnsubscribe: z.number(),
  rejectedByReason: z.record(z.string(), z.number()),
});
export type PlanCounts = z.infer<typeof PlanCounts>;

/** Prepare's result: either the staged plan, or the refusal of a guard (nothing was sent). */
export const PrepareOutput = z.discriminatedUnion('ok', [
  z.object({
    ok: z.literal(true),
    counts: PlanCounts,
    slices: z.number().int().nonnegative(),
    requests: z.number().int().nonnegative(),
    durationMs: z.number(),
  }),
  z.object({
    ok: z.literal(false),
    /** A stable code: `guard_*`, `input_file_invalid`, `limit_exceeded`, `not_found`, ... */
    code: z.string(),
    reason: z.string(),
    counts: PlanCounts.optional(),
    /** Set by the mirror guard: how many unsubscribes a confirmation must name. */
    unsubscribesToConfirm: z.number().optional(),
    retryable: z.boolean(),
    durationMs: z.number(),
  }),
]);
export type PrepareOutput = z.infer<typeof PrepareOutput>;

/** Push one slice (all its requests, or the listed ones again as resubmission `attempt`). */
export const PushSliceInput = z.object({
  exportId: z.string(),
  runId: z.string(),
  slice: z.number().int().positive(),
  /** Request indexes to send; omitted: every request of the slice. */
  requests: z.array(z.number().int().nonnegative()).optional(),
  attempt: z.number().int().nonnegative(),
});
export type PushSliceInput = z.infer<typeof PushSliceInput>;

/** A bulk request's fate at submission. */
export const SubmittedRequest = z.object({
  request: z.number().int().nonnegative(),
  contacts: z.number().int().nonnegative(),
  /** Set when ActiveCampaign queued it. */
  batchId: z.string().optional(),
  /** Set when it was not queued (or its answer was lost): the reason, for its contacts. */
  error: z.string().optional(),
  /** The answer was lost, so ActiveCampaign may have applied it anyway. */
  outcomeUnknown: z.boolean().optional(),
  /** Times it was resent after a lost answer (may have been applied more than once). */
  ambiguousResends: z.number().int().nonnegative().optional(),
});
export type SubmittedRequest = z.infer<typeof SubmittedRequest>;

/** Push's result. */
export const PushSliceOutput = z.object({
  slice: z.number(),
  attempt: z.number(),
  submitted: z.array(SubmittedRequest),
  /** The run was canceled before these requests were sent. */
  canceled: z.array(z.number()),
  stats: z.object({ bulkImport: z.number(), throttled: z.number(), retries: z.number() }),
});
export type PushSliceOutput = z.infer<typeof PushSliceOutput>;

/** The reconcile sub-orchestration's input: one slice's batches as push left them. */
export const ReconcileSliceInput = z.object({
  exportId: z.string(),
  runId: z.string(),
  slice: z.number().int().positive(),
  pushed: PushSliceOutput,
  tuning: RunTuning,
});
export type ReconcileSliceInput = z.infer<typeof ReconcileSliceInput>;

/** One look at a slice's pending batches. */
export const CheckSliceInput = z.object({
  exportId: z.string(),
  runId: z.string(),
  slice: z.number().int().positive(),
  batches: z.array(z.object({ request: z.number(), batchId: z.string(), attempt: z.number() })),
  /** Past the deadline: batches still pending are given up (their contacts unconfirmed). */
  giveUp: z.boolean(),
  /** A `failed`/`interrupted` batch at this attempt is not resubmitted again: its contacts fail. */
  maxResubmits: z.number().int().nonnegative(),
});
export type CheckSliceInput = z.infer<typeof CheckSliceInput>;

/** What one look found: batches to look at again, batches to resubmit, and the counts settled so far. */
export const CheckSliceOutput = z.object({
  pending: z.array(z.object({ request: z.number(), batchId: z.string(), attempt: z.number() })),
  resubmit: z.array(z.object({ request: z.number(), attempt: z.number() })),
  settled: z.object({ confirmed: z.number(), failed: z.number(), unsubscribed: z.number() }),
  importInfo: z.number(),
});
export type CheckSliceOutput = z.infer<typeof CheckSliceOutput>;

/** The reconcile sub-orchestration's result, per slice. */
export const SliceSummary = z.object({
  slice: z.number(),
  confirmed: z.number(),
  failed: z.number(),
  unsubscribed: z.number(),
  bulkImport: z.number(),
  importInfo: z.number(),
  throttled: z.number(),
  resubmits: z.number(),
  ambiguousResends: z.number(),
});
export type SliceSummary = z.infer<typeof SliceSummary>;

/** One push lane's input: it pushes slices `lane`, `lane + lanes`, ... up to `slices`. */
export const PushLaneInput = z.object({
  exportId: z.string(),
  runId: z.string(),
  lane: z.number().int().positive(),
  lanes: z.number().int().positive(),
  slices: z.number().int().positive(),
  tuning: RunTuning,
});
export type PushLaneInput = z.infer<typeof PushLaneInput>;

/** A lane's progress (its custom status), summed by the run's status view. */
export const LaneProgress = z.object({
  slicesPushed: z.number(),
  slicesReconciled: z.number(),
  confirmed: z.number(),
  failed: z.number(),
});
export type LaneProgress = z.infer<typeof LaneProgress>;

/** One push lane's result. */
export const PushLaneOutput = z.object({
  summaries: z.array(SliceSummary),
  canceled: z.boolean(),
  failure: z.string().optional(),
  /** When its last push returned (orchestration time). */
  lastPushAt: z.string(),
});
export type PushLaneOutput = z.infer<typeof PushLaneOutput>;

/** Finalise's input: everything the report needs that is not in blob storage. */
export const FinaliseInput = z.object({
  run: RunInput,
  startedAt: z.string(),
  prepare: PrepareOutput.optional(),
  slices: z.array(SliceSummary),
  /** Set when the run stops early: why (a guard, a failure, cancel). */
  stop: z.object({ status: z.enum(['failed', 'canceled']), code: z.string(), reason: z.string() }).optional(),
  stageMs: z.object({ prepare: z.number(), push: z.number(), reconcile: z.number() }),
});
export type FinaliseInput = z.infer<typeof FinaliseInput>;

/** Finalise's result (the orchestration's output). */
export const RunOutput = z.object({
  runId: z.string(),
  status: RunStatus,
  reportBlob: z.string(),
  followUpRunId: z.string().optional(),
});
export type RunOutput = z.infer<typeof RunOutput>;

/** The orchestration's custom status: what `GET .../runs/{runId}` shows while it runs. */
export const RunProgress = z.object({
  stage: RunStage,
  /** Contacts to send (known once Prepare is done). */
  total: z.number().optional(),
  slices: z.number().optional(),
  slicesPushed: z.number(),
  slicesReconciled: z.number(),
  confirmed: z.number(),
  failed: z.number(),
  /** When pushing began (orchestration time), for the rate and ETA. */
  pushStartedAt: z.string().optional(),
  /** Push lanes (sub-orchestrations `<runId>-lane-<n>`), whose custom status holds their progress. */
  lanes: z.number().optional(),
  updatedAt: z.string(),
});
export type RunProgress = z.infer<typeof RunProgress>;
