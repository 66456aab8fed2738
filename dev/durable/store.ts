/**
 * Where the Durable backend keeps its state: one small interface and the records it stores. Two
 * implementations: `TableStore` (tableStore.ts: Azure Tables + blobs in Azurite, the real one, survives a
 * killed host; its storage layout is described there) and `MemoryStore` (memoryStore.ts: engine unit tests).
 */
import type { HistoryEvent } from './history';

export { MemoryStore } from './memoryStore';
export { TableStore } from './tableStore';

export type RuntimeStatus =
  'Pending' | 'Running' | 'Completed' | 'ContinuedAsNew' | 'Failed' | 'Canceled' | 'Terminated' | 'Suspended';

/** True for the statuses an instance never leaves (until purged or restarted with the same id). */
export function isTerminal(status: RuntimeStatus): boolean {
  return status === 'Completed' || status === 'Failed' || status === 'Terminated' || status === 'Canceled';
}

/** One orchestration instance. JSON payloads are kept as JSON text, exactly as they will be served. */
export interface InstanceRecord {
  instanceId: string;
  name: string;
  executionId: string;
  runtimeStatus: RuntimeStatus;
  input?: string;
  output?: string;
  customStatus?: string;
  createdTime: string;
  lastUpdatedTime: string;
  parentInstanceId?: string;
  parentTaskId?: number;
  parentExecutionId?: string;
  /** Number of committed history rows of the current execution; rows past it are leftovers of a crash. */
  historyLength: number;
  /**
   * Inbox messages whose effect this write commits. They are deleted right after the write; a host killed
   * in between finds them still in the inbox on restart and must not apply them again (the instance row
   * is the commit point, and Azure Tables has no transaction across the instance and inbox tables).
   */
  consumedMessageIds?: string[];
}

/** A conditional write of an instance row did not hold: the row exists (create) or changed since read. */
export class InstanceWriteConflictError extends Error {
  constructor(instanceId: string, reason: string) {
    super(`Instance '${instanceId}': ${reason}.`);
    this.name = 'InstanceWriteConflictError';
  }
}

/** `ifAbsent`: create only (Azure Tables Insert, 409 if present); `ifMatch`: replace only that version. */
export type InstanceWriteCondition = { ifAbsent: true } | { ifMatch: string };

/** Our bookkeeping of one scheduling event: which decision (leaf) it serves and in what role. */
export type HistoryRole = 'first' | 'retryTimer' | 'retryAttempt';

export interface HistoryRow {
  event: HistoryEvent;
  leaf?: number;
  role?: HistoryRole;
}

/** A message for an instance that is not yet part of its history. */
export interface InboxMessage {
  id: string;
  instanceId: string;
  /** The execution the message belongs to (activity results, timers); absent = whichever is current. */
  executionId?: string;
  kind: 'start' | 'event' | 'terminate' | 'suspend' | 'resume';
  event?: HistoryEvent;
  reason?: string;
  /** ISO time; messages are applied in this order. */
  enqueued: string;
}

/** Persistence used by the engine. */
export interface DurableStore {
  init(): Promise<void>;
  readInstance(instanceId: string): Promise<InstanceRecord | undefined>;
  /** The instance with its version (the row's ETag), for a conditional write. */
  readInstanceVersion(instanceId: string): Promise<{ record: InstanceRecord; etag: string } | undefined>;
  /** Writes the instance row; throws `InstanceWriteConflictError` when `condition` does not hold. */
  writeInstance(record: InstanceRecord, condition?: InstanceWriteCondition): Promise<void>;
  listInstances(): Promise<InstanceRecord[]>;
  /** Deletes the instance, its history and its inbox. */
  deleteInstance(instanceId: string): Promise<void>;
  /**
   * Deletes the history, the inbox and the large-message blobs of an instance, except the blobs of
   * execution `keepExecutionId`; the instance row stays (a terminal instance re-created in place).
   */
  clearInstanceData(instanceId: string, keepExecutionId: string): Promise<void>;
  readHistory(instanceId: string, executionId: string, length: number): Promise<HistoryRow[]>;
  appendHistory(
    instanceId: string,
    executionId: string,
    startIndex: number,
    rows: HistoryRow[],
  ): Promise<void>;
  /** Deletes every history row of the instance (all executions). */
  clearHistory(instanceId: string): Promise<void>;
  putMessage(message: InboxMessage): Promise<void>;
  listMessages(): Promise<InboxMessage[]>;
  deleteMessages(instanceId: string, ids: string[]): Promise<void>;
}
