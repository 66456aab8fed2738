/**
 * What the engine knows about one loaded instance, rebuilt from its history after a restart: each
 * decision (leaf) of the current execution, which history ids belong to which leaf, what is scheduled and
 * what has completed, and the next sequence id the executor will expect.
 */
import type { Leaf, RetryOptionsWire } from './actions';
import { completedId, EventType, type FailureDetails, type HistoryEvent } from './history';
import type { HistoryRole, HistoryRow, InstanceRecord } from './store';

/** What the engine knows about one decision (leaf) of the current execution. */
export interface LeafState {
  kind: Leaf['kind'];
  name?: string;
  inputJson?: string;
  /** For sub-orchestrations given an explicit instance id. */
  instanceId?: string;
  retry?: RetryOptionsWire;
  firstId: number;
  firstAttemptAt: string;
  failures: number;
  lastFailure?: FailureDetails;
}

/** In-memory state of a loaded instance (rebuilt from storage after a restart). */
export interface Runtime {
  record: InstanceRecord;
  history: HistoryRow[];
  leaves: LeafState[];
  owners: Map<number, { leaf: number; role: HistoryRole }>;
  scheduled: Map<number, HistoryEvent>;
  completed: Set<number>;
  nextId: number;
}

/** An empty runtime for a record whose history is still to be absorbed. */
export function newRuntime(record: InstanceRecord): Runtime {
  return {
    record,
    history: [],
    leaves: [],
    owners: new Map(),
    scheduled: new Map(),
    completed: new Set(),
    nextId: 0,
  };
}

/**
 * Adds one committed history row to the runtime's bookkeeping. `fromStorage`: the row is replayed from
 * storage after a restart, so retry failures it records are counted again (a live episode counts them
 * when it processes the failure, in `retryStep`).
 */
export function absorb(rt: Runtime, row: HistoryRow, fromStorage: boolean): void {
  rt.history.push(row);
  const event = row.event;
  if (event.EventId >= 0 && row.leaf !== undefined && row.role !== undefined) {
    rt.owners.set(event.EventId, { leaf: row.leaf, role: row.role });
    rt.scheduled.set(event.EventId, event);
    rt.nextId = Math.max(rt.nextId, event.EventId + 1);
    if (row.role === 'first') {
      const kind: Leaf['kind'] =
        event.EventType === EventType.TimerCreated
          ? 'timer'
          : event.EventType === EventType.TaskScheduled
            ? 'activity'
            : 'subOrchestration';
      rt.leaves[row.leaf] = {
        kind,
        ...(typeof event.Name === 'string' ? { name: event.Name } : {}),
        ...(typeof event.Input === 'string' ? { inputJson: event.Input } : {}),
        ...(typeof event._explicitInstanceId === 'string' ? { instanceId: event._explicitInstanceId } : {}),
        ...(event._retry ? { retry: event._retry as RetryOptionsWire } : {}),
        firstId: event.EventId,
        firstAttemptAt: event.Timestamp,
        failures: 0,
      };
    }
  }
  const id = completedId(event);
  if (id !== undefined) {
    rt.completed.add(id);
    const owner = rt.owners.get(id);
    const leaf = owner ? rt.leaves[owner.leaf] : undefined;
    if (
      fromStorage &&
      leaf?.retry &&
      owner?.role !== 'retryTimer' &&
      (event.EventType === EventType.TaskFailed ||
        event.EventType === EventType.SubOrchestrationInstanceFailed)
    ) {
      leaf.failures += 1;
      leaf.lastFailure = event.FailureDetails as FailureDetails;
    }
  }
}
