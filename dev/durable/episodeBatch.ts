/**
 * Sorting one episode's batch of inbox messages into what the replay will see: suspend/resume as control
 * events, the start event, completions that make the executor assign retry ids (they go first, see
 * scheduling.ts) and the other completions and events. Duplicates and results for an execution that
 * continued as new are consumed without effect; messages that must wait (the instance is suspended, or
 * not started yet) stay in the inbox.
 */
import { completedId, events, type HistoryEvent } from './history';
import type { Runtime } from './runtime';
import { assignsRetryId } from './scheduling';
import type { InboxMessage } from './store';

/** One episode's messages, sorted. */
export interface SortedBatch {
  /** Ids of the messages this episode consumes. */
  consumed: string[];
  /** ExecutionSuspended / ExecutionResumed events. */
  controlEvents: HistoryEvent[];
  /** Whether the instance is suspended after the batch's control messages. */
  suspended: boolean;
  start?: HistoryEvent;
  /** Completions that make the executor take a new id (retry timer or attempt), stamped `now`. */
  idAssigning: HistoryEvent[];
  /** Every other completion or event, stamped `now`. */
  others: HistoryEvent[];
}

/** Sorts a batch (terminate messages are handled before this). Marks applied completions in `rt.completed`. */
export function sortBatch(rt: Runtime, batch: InboxMessage[], now: Date): SortedBatch {
  const sorted: SortedBatch = {
    consumed: [],
    controlEvents: [],
    suspended: rt.record.runtimeStatus === 'Suspended',
    idAssigning: [],
    others: [],
  };
  const { consumed } = sorted;
  for (const message of batch) {
    if (message.kind === 'suspend' || message.kind === 'resume') {
      consumed.push(message.id);
      if (message.kind === 'suspend' && !sorted.suspended)
        sorted.controlEvents.push(events.executionSuspended(now, message.reason));
      if (message.kind === 'resume' && sorted.suspended)
        sorted.controlEvents.push(events.executionResumed(now, message.reason));
      sorted.suspended = message.kind === 'suspend';
      continue;
    }
    if (sorted.suspended) continue; // stays in the inbox until resumed
    if (message.executionId !== undefined && message.executionId !== rt.record.executionId) {
      consumed.push(message.id); // a result for an execution that continued as new
      continue;
    }
    const event = message.event!;
    consumed.push(message.id);
    if (message.kind === 'start') {
      if (rt.history.length === 0 && !sorted.start) sorted.start = { ...event, Timestamp: now.toISOString() };
      continue;
    }
    if (rt.history.length === 0 && !sorted.start) {
      // Not started yet (events raised before the start message was processed): keep for later.
      consumed.pop();
      continue;
    }
    const id = completedId(event);
    if (id !== undefined && (rt.completed.has(id) || !rt.owners.has(id))) continue; // duplicate or stale
    if (id !== undefined) rt.completed.add(id);
    const stamped = { ...event, Timestamp: now.toISOString() };
    if (id !== undefined && assignsRetryId(rt, id, event)) sorted.idAssigning.push(stamped);
    else sorted.others.push(stamped);
  }
  return sorted;
}

/** True when the batch gives the orchestrator something to replay (not suspended, and new events). */
export function batchRunsOrchestrator(sorted: SortedBatch): boolean {
  return (
    !sorted.suspended &&
    (sorted.start !== undefined || sorted.idAssigning.length > 0 || sorted.others.length > 0)
  );
}
