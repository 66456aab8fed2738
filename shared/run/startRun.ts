/**
 * Starting runs, from every trigger (HTTP, the schedule, landed segments, run-all, a follow-up): one run per
 * export at a time. The export's state row names the run in progress; a trigger that arrives meanwhile asks
 * for one follow-up run (a second one while the first is still asked for changes nothing), which Finalise
 * starts when the run ends. Dry runs send nothing and take no turn: they start at once.
 */
import { newRunId, type RunRecord } from '../adapters/tables/runStore';
import type { Config } from '../config';
import { NotFoundError, ValidationError } from '../errors';
import type { RunDeps } from './deps';
import { RUN_FUNCTIONS } from './names';
import type { RunInput, RunTrigger, RunTuning } from './payloads';

/** Starts an orchestration instance (the Durable client's `startNew`), and reads an instance's status. */
export interface StartOrchestration {
  start(name: string, instanceId: string, input: unknown): Promise<void>;
  /** True while the instance exists and has not finished. */
  isRunning(instanceId: string): Promise<boolean>;
}

/** The orchestration's timings, from the settings (the orchestrator reads none itself). */
export function runTuning(config: Config): RunTuning {
  return {
    pushWindow: config.EXPORT_PUSH_WINDOW,
    firstPollMs: config.EXPORT_POLL_FIRST_MS,
    maxPollMs: config.EXPORT_POLL_MAX_MS,
    reconcileDeadlineMs: config.EXPORT_RECONCILE_DEADLINE_MS,
    maxResubmits: config.EXPORT_MAX_RESUBMITS,
  };
}

/** What a trigger asks for. */
export interface RunRequest {
  exportId: string;
  trigger: RunTrigger;
  requestedBy: string;
  dryRun?: boolean;
  fullResync?: boolean;
  confirmUnsubscribes?: number;
}

/** What became of a request: a run started, or a follow-up of the run in progress was requested. */
export type RunRequestResult =
  | { outcome: 'started'; runId: string }
  | { outcome: 'followUpRequested'; runId: string; alreadyRequested: boolean };

async function startNewRun(
  deps: RunDeps,
  request: RunRequest,
  runId: string,
  orchestrations: StartOrchestration,
): Promise<void> {
  const record: RunRecord = {
    runId,
    exportId: request.exportId,
    trigger: request.trigger,
    dryRun: request.dryRun ?? false,
    fullResync: request.fullResync ?? false,
    requestedBy: request.requestedBy,
    startedAt: new Date(deps.now()).toISOString(),
    status: 'running',
  };
  await deps.runs.createRun(record);
  const input: RunInput = {
    exportId: request.exportId,
    runId,
    trigger: request.trigger,
    dryRun: record.dryRun,
    fullResync: record.fullResync,
    ...(request.confirmUnsubscribes === undefined
      ? {}
      : { confirmUnsubscribes: request.confirmUnsubscribes }),
    requestedBy: request.requestedBy,
    tuning: runTuning(deps.config),
  };
  await orchestrations.start(RUN_FUNCTIONS.orchestrator, runId, input);
}

/** Starts a run of an export, or asks for its follow-up when one is in progress. */
export async function requestRun(
  deps: RunDeps,
  request: RunRequest,
  orchestrations: StartOrchestration,
): Promise<RunRequestResult> {
  const { record: definition } = await deps.records.exports.get(request.exportId);
  if (!definition.connectionId) {
    throw new ValidationError(
      `Export "${definition.name}" has no connection; give it one before running it`,
      [{ field: 'connectionId', message: 'is not set (the connection was deleted with detach)' }],
    );
  }
  if (request.dryRun) {
    const runId = newRunId(deps.now());
    await startNewRun(deps, request, runId, orchestrations);
    return { outcome: 'started', runId };
  }
  for (let attempt = 1; ; attempt++) {
    const { state, etag } = await deps.runs.getState(request.exportId);
    const active = state.activeRunId;
    if (active && (await orchestrations.isRunning(active))) {
      if (state.followUp) return { outcome: 'followUpRequested', runId: active, alreadyRequested: true };
      const next = {
        ...state,
        followUp: {
          trigger: request.trigger,
          requestedBy: request.requestedBy,
          fullResync: request.fullResync ?? false,
          requestedAt: new Date(deps.now()).toISOString(),
        },
      };
      try {
        await deps.runs.putState(request.exportId, next, etag);
        return { outcome: 'followUpRequested', runId: active, alreadyRequested: false };
      } catch (error) {
        if (attempt >= 10) throw error;
        continue;
      }
    }
    // No run in progress (or the recorded one is gone): this request takes the turn.
    const runId = newRunId(deps.now());
    try {
      await deps.runs.putState(request.exportId, { ...state, activeRunId: runId, followUp: null }, etag);
    } catch (error) {
      if (attempt >= 10) throw error;
      continue;
    }
    await startNewRun(deps, request, runId, orchestrations);
    return { outcome: 'started', runId };
  }
}

/**
 * Ends a run's turn: starts the follow-up asked for meanwhile (returning its run id), or frees the export.
 * Safe to repeat (Finalise may be re-run): a state that no longer names this run is left alone.
 */
export async function releaseExport(
  deps: RunDeps,
  run: Pick<RunInput, 'exportId' | 'runId'>,
  orchestrations: StartOrchestration,
): Promise<string | undefined> {
  let followUp: { runId: string; request: RunRequest } | undefined;
  await deps.runs.changeState(run.exportId, (state) => {
    followUp = undefined;
    if (state.activeRunId !== run.runId) return { state, result: undefined };
    if (!state.followUp) return { state: { ...state, activeRunId: null }, result: undefined };
    const runId = newRunId(deps.now());
    followUp = {
      runId,
      request: {
        exportId: run.exportId,
        trigger: 'followUp',
        requestedBy: state.followUp.requestedBy,
        fullResync: state.followUp.fullResync,
      },
    };
    return { state: { ...state, activeRunId: runId, followUp: null }, result: undefined };
  });
  if (!followUp) return undefined;
  const { runId, request } = followUp;
  try {
    await deps.records.exports.get(run.exportId);
  } catch (error) {
    if (error instanceof NotFoundError) return undefined;
    throw error;
  }
  await startNewRun(deps, request, runId, orchestrations);
  return runId;
}
