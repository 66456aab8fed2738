/**
 * Starting runs of many exports at once: the scheduled refresh (timer), `POST /api/exports/run-all`, and
 * segments landing (blob trigger). Only exports whose schedule is `refresh` and that have a connection run.
 * One export failing to start does not stop the others; each outcome is returned (and logged by the caller).
 */
import type { ConnectionRecord } from '../domain/records/connection';
import type { ExportRecord } from '../domain/records/exportDefinition';
import { ensureError } from '../errors';
import type { RunDeps } from './deps';
import type { RunTrigger } from './payloads';
import { requestRun, type StartOrchestration } from './startRun';

/** One export's outcome. */
export interface ScheduledRunOutcome {
  exportId: string;
  outcome: 'started' | 'followUpRequested' | 'skipped' | 'failed';
  runId?: string;
  reason?: string;
}

/** Options of a batch start. */
export interface ScheduledRunOptions {
  trigger: RunTrigger;
  requestedBy: string;
  /** Only exports that include one of these segments (case-insensitive): a blob trigger's segments. */
  segments?: readonly string[];
  /** Whether the caller may use a connection (run-all by a contributor); default: yes. */
  mayUse?: (connection: ConnectionRecord) => boolean;
  /** Decides per export whether this trigger was seen before (one run per landed snapshot); default: no. */
  snapshotKey?: (definition: ExportRecord) => string | undefined;
}

/** Starts a run of every export with schedule `refresh` (that matches the options). */
export async function startScheduledRuns(
  deps: RunDeps,
  orchestrations: StartOrchestration,
  options: ScheduledRunOptions,
): Promise<ScheduledRunOutcome[]> {
  const wanted = options.segments?.map((s) => s.toLowerCase());
  const outcomes: ScheduledRunOutcome[] = [];
  for await (const { record: definition } of deps.records.exports.all()) {
    if (definition.schedule !== 'refresh') continue;
    if (wanted && !definition.segments.some((s) => wanted.includes(s.toLowerCase()))) continue;
    if (!definition.connectionId) {
      outcomes.push({ exportId: definition.id, outcome: 'skipped', reason: 'the export has no connection' });
      continue;
    }
    try {
      const { record: connection } = await deps.records.connections.get(definition.connectionId);
      if (options.mayUse && !options.mayUse(connection)) {
        outcomes.push({
          exportId: definition.id,
          outcome: 'skipped',
          reason: 'its connection is not shared with you',
        });
        continue;
      }
      const key = options.snapshotKey?.(definition);
      if (key !== undefined) {
        const seen = await deps.runs.changeState(definition.id, (state) => {
          if (state.triggeredSnapshots.includes(key)) return { state, result: true };
          const triggeredSnapshots = [...state.triggeredSnapshots, key].slice(-100);
          return { state: { ...state, triggeredSnapshots }, result: false };
        });
        if (seen) {
          outcomes.push({
            exportId: definition.id,
            outcome: 'skipped',
            reason: `snapshot ${key} already triggered a run`,
          });
          continue;
        }
      }
      const result = await requestRun(
        deps,
        { exportId: definition.id, trigger: options.trigger, requestedBy: options.requestedBy },
        orchestrations,
      );
      outcomes.push({ exportId: definition.id, outcome: result.outcome, runId: result.runId });
    } catch (error) {
      outcomes.push({ exportId: definition.id, outcome: 'failed', reason: ensureError(error).message });
    }
  }
  return outcomes;
}
