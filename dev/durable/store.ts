/**
 * Where the Durable backend keeps its state. Two implementations of one small interface:
 * `TableStore` (Azure Tables + blobs in Azurite — the real one, survives a killed host) and `MemoryStore`
 * (engine unit tests).
 *
 * Layout in storage (hub `H`, sanitised to letters and digits):
 *   table `HInstances`  PK = instance id, RK = ''            one row per instance: name, status, input,
 *                                                            output, custom status, times, parent, execution
 *                                                            id, the committed history length and the ids of
 *                                                            the inbox messages that commit consumed
 *                                                            (`Consumed`); created only if absent; a
 *                                                            terminal one is replaced only with the ETag it
 *                                                            was read with (one winner per start race)
 *   table `HHistory`    PK = instance id, RK = `<executionId>-<index, 8 digits>`   one row per history event
 *                                                            (`Event` = the event's JSON) of the current
 *                                                            execution, plus our bookkeeping (`Leaf`, `Role`)
 *   table `HInbox`      PK = instance id, RK = message id    messages not yet in history (start, activity
 *                                                            results, timer fired, events, terminate...)
 *   container `h-largemessages`   texts above 30,000 characters (a table string property holds 64 KiB),
 *                                 referenced from the row as `<Property>Blob`
 */
import { TableClient, type TableEntity, type TransactionAction } from '@azure/data-tables';
import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';

import { statusCodeOf } from '../../shared/errors';
import type { HistoryEvent } from './history';

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

/** In-memory store for engine unit tests. JSON round-trips everything, like the real store. */
export class MemoryStore implements DurableStore {
  private readonly instances = new Map<string, string>();
  /** ETag stand-in: a version per instance row, changed by every write. */
  private readonly versions = new Map<string, string>();
  private version = 0;
  private readonly history = new Map<string, string[]>();
  private readonly inbox = new Map<string, string>();

  init(): Promise<void> {
    return Promise.resolve();
  }
  readInstance(instanceId: string): Promise<InstanceRecord | undefined> {
    const text = this.instances.get(instanceId);
    return Promise.resolve(text === undefined ? undefined : (JSON.parse(text) as InstanceRecord));
  }
  readInstanceVersion(instanceId: string): Promise<{ record: InstanceRecord; etag: string } | undefined> {
    const text = this.instances.get(instanceId);
    const etag = this.versions.get(instanceId);
    return Promise.resolve(
      text === undefined || etag === undefined
        ? undefined
        : { record: JSON.parse(text) as InstanceRecord, etag },
    );
  }
  writeInstance(record: InstanceRecord, condition?: InstanceWriteCondition): Promise<void> {
    // Same answers as Azure Tables: Insert fails when the row exists, If-Match when the ETag differs
    // (or the row is gone).
    const current = this.versions.get(record.instanceId);
    if (condition && 'ifAbsent' in condition && current !== undefined)
      return Promise.reject(new InstanceWriteConflictError(record.instanceId, 'the instance row exists'));
    if (condition && 'ifMatch' in condition && current !== condition.ifMatch)
      return Promise.reject(
        new InstanceWriteConflictError(record.instanceId, 'the instance row changed since it was read'),
      );
    this.instances.set(record.instanceId, JSON.stringify(record));
    this.version += 1;
    this.versions.set(record.instanceId, String(this.version));
    return Promise.resolve();
  }
  listInstances(): Promise<InstanceRecord[]> {
    return Promise.resolve([...this.instances.values()].map((t) => JSON.parse(t) as InstanceRecord));
  }
  async deleteInstance(instanceId: string): Promise<void> {
    this.instances.delete(instanceId);
    this.versions.delete(instanceId);
    await this.clearInstanceData(instanceId, '');
  }
  async clearInstanceData(instanceId: string, _keepExecutionId: string): Promise<void> {
    await this.clearHistory(instanceId);
    for (const [key, text] of this.inbox)
      if ((JSON.parse(text) as InboxMessage).instanceId === instanceId) this.inbox.delete(key);
  }
  readHistory(instanceId: string, executionId: string, length: number): Promise<HistoryRow[]> {
    const rows = this.history.get(`${instanceId}\n${executionId}`) ?? [];
    return Promise.resolve(rows.slice(0, length).map((t) => JSON.parse(t) as HistoryRow));
  }
  appendHistory(
    instanceId: string,
    executionId: string,
    startIndex: number,
    rows: HistoryRow[],
  ): Promise<void> {
    const key = `${instanceId}\n${executionId}`;
    const existing = (this.history.get(key) ?? []).slice(0, startIndex);
    this.history.set(key, [...existing, ...rows.map((r) => JSON.stringify(r))]);
    return Promise.resolve();
  }
  clearHistory(instanceId: string): Promise<void> {
    for (const key of [...this.history.keys()])
      if (key.startsWith(`${instanceId}\n`)) this.history.delete(key);
    return Promise.resolve();
  }
  putMessage(message: InboxMessage): Promise<void> {
    this.inbox.set(`${message.instanceId}\n${message.id}`, JSON.stringify(message));
    return Promise.resolve();
  }
  listMessages(): Promise<InboxMessage[]> {
    return Promise.resolve([...this.inbox.values()].map((t) => JSON.parse(t) as InboxMessage));
  }
  deleteMessages(instanceId: string, ids: string[]): Promise<void> {
    for (const id of ids) this.inbox.delete(`${instanceId}\n${id}`);
    return Promise.resolve();
  }
}

/** Longest text kept inline in a table property (a string property holds 64 KiB = 32K UTF-16 chars). */
const INLINE_TEXT_LIMIT = 30_000;
/** Batches stay well under the 4 MiB / 100 operation limits of an entity group transaction. */
const BATCH_OPERATIONS = 100;
const BATCH_BYTES = 2_000_000;

/** Table keys may not contain / \ # ? or control characters. */
function toKey(value: string): string {
  return encodeURIComponent(value);
}

function sanitizeHub(taskHubName: string): string {
  const clean = taskHubName.replace(/[^A-Za-z0-9]/g, '');
  if (!/^[A-Za-z]/.test(clean) || clean.length < 3 || clean.length > 45)
    throw new Error(
      `Task hub name '${taskHubName}' must start with a letter and have 3-45 letters or digits.`,
    );
  return clean;
}

type Row = TableEntity<Record<string, unknown>>;

/** Azure Tables (+ blobs for large texts) store; works against Azurite and Azure Storage alike. */
export class TableStore implements DurableStore {
  private readonly instances: TableClient;
  private readonly history: TableClient;
  private readonly inbox: TableClient;
  private readonly blobs: ContainerClient;

  constructor(connectionString: string, taskHubName: string) {
    const hub = sanitizeHub(taskHubName);
    const options = { allowInsecureConnection: true };
    this.instances = TableClient.fromConnectionString(connectionString, `${hub}Instances`, options);
    this.history = TableClient.fromConnectionString(connectionString, `${hub}History`, options);
    this.inbox = TableClient.fromConnectionString(connectionString, `${hub}Inbox`, options);
    this.blobs = BlobServiceClient.fromConnectionString(connectionString).getContainerClient(
      `${hub.toLowerCase()}-largemessages`,
    );
  }

  async init(): Promise<void> {
    await Promise.all([
      this.instances.createTable(),
      this.history.createTable(),
      this.inbox.createTable(),
      this.blobs.createIfNotExists(),
    ]);
  }

  private async pack(row: Row, property: string, text: string | undefined, blobName: string): Promise<void> {
    if (text === undefined) return;
    if (text.length <= INLINE_TEXT_LIMIT) {
      row[property] = text;
      return;
    }
    await this.blobs.getBlockBlobClient(blobName).upload(text, Buffer.byteLength(text));
    row[`${property}Blob`] = blobName;
  }

  private async unpack(row: Record<string, unknown>, property: string): Promise<string | undefined> {
    const inline = row[property];
    if (typeof inline === 'string') return inline;
    const blobName = row[`${property}Blob`];
    if (typeof blobName !== 'string') return undefined;
    const buffer = await this.blobs.getBlockBlobClient(blobName).downloadToBuffer();
    return buffer.toString('utf8');
  }

  async readInstance(instanceId: string): Promise<InstanceRecord | undefined> {
    return (await this.readInstanceVersion(instanceId))?.record;
  }

  async readInstanceVersion(
    instanceId: string,
  ): Promise<{ record: InstanceRecord; etag: string } | undefined> {
    try {
      const row = await this.instances.getEntity<Record<string, unknown>>(toKey(instanceId), '');
      return { record: await this.toInstance(row), etag: row.etag };
    } catch (error) {
      if (statusCodeOf(error) === 404) return undefined;
      throw error;
    }
  }

  private async toInstance(row: Record<string, unknown>): Promise<InstanceRecord> {
    const meta = JSON.parse(row.Meta as string) as InstanceRecord;
    const [input, output, customStatus, consumed] = await Promise.all([
      this.unpack(row, 'Input'),
      this.unpack(row, 'Output'),
      this.unpack(row, 'CustomStatus'),
      this.unpack(row, 'Consumed'),
    ]);
    return {
      ...meta,
      ...(input === undefined ? {} : { input }),
      ...(output === undefined ? {} : { output }),
      ...(customStatus === undefined ? {} : { customStatus }),
      ...(consumed === undefined ? {} : { consumedMessageIds: JSON.parse(consumed) as string[] }),
    };
  }

  async writeInstance(record: InstanceRecord, condition?: InstanceWriteCondition): Promise<void> {
    const { input, output, customStatus, consumedMessageIds, ...meta } = record;
    const row: Row = {
      partitionKey: toKey(record.instanceId),
      rowKey: '',
      Meta: JSON.stringify(meta),
      RuntimeStatus: record.runtimeStatus,
    };
    const blobBase = `${toKey(record.instanceId)}/${record.executionId}/instance-${Date.now()}`;
    await this.pack(row, 'Input', input, `${blobBase}-input.json`);
    await this.pack(row, 'Output', output, `${blobBase}-output.json`);
    await this.pack(row, 'CustomStatus', customStatus, `${blobBase}-customstatus.json`);
    // Consumed ids of a big fan-in batch can pass the inline limit; they go to a blob like any text.
    if (consumedMessageIds?.length)
      await this.pack(row, 'Consumed', JSON.stringify(consumedMessageIds), `${blobBase}-consumed.json`);
    if (!condition) {
      await this.instances.upsertEntity(row, 'Replace');
      return;
    }
    try {
      if ('ifAbsent' in condition) await this.instances.createEntity(row);
      else await this.instances.updateEntity(row, 'Replace', { etag: condition.ifMatch });
    } catch (error) {
      const status = statusCodeOf(error);
      // 409 EntityAlreadyExists (insert), 412 UpdateConditionNotSatisfied, 404 (row deleted meanwhile).
      if (status !== 409 && status !== 412 && status !== 404) throw error;
      for (const property of ['InputBlob', 'OutputBlob', 'CustomStatusBlob', 'ConsumedBlob'])
        if (typeof row[property] === 'string')
          await this.blobs.deleteBlob(row[property]).catch(() => undefined);
      throw new InstanceWriteConflictError(
        record.instanceId,
        'ifAbsent' in condition ? 'the instance row exists' : 'the instance row changed since it was read',
      );
    }
  }

  async listInstances(): Promise<InstanceRecord[]> {
    const rows: Record<string, unknown>[] = [];
    for await (const row of this.instances.listEntities<Record<string, unknown>>()) rows.push(row);
    return Promise.all(rows.map((r) => this.toInstance(r)));
  }

  async deleteInstance(instanceId: string): Promise<void> {
    await this.clearHistory(instanceId);
    await this.deletePartition(this.inbox, toKey(instanceId));
    await this.deletePartition(this.instances, toKey(instanceId));
    for await (const blob of this.blobs.listBlobsFlat({ prefix: `${toKey(instanceId)}/` }))
      await this.blobs.deleteBlob(blob.name);
  }

  async clearInstanceData(instanceId: string, keepExecutionId: string): Promise<void> {
    await this.clearHistory(instanceId);
    await this.deletePartition(this.inbox, toKey(instanceId));
    const keep = `${toKey(instanceId)}/${keepExecutionId}/`;
    for await (const blob of this.blobs.listBlobsFlat({ prefix: `${toKey(instanceId)}/` }))
      if (!blob.name.startsWith(keep)) await this.blobs.deleteBlob(blob.name);
  }

  private async deletePartition(table: TableClient, partitionKey: string): Promise<void> {
    const keys: string[] = [];
    const filter = `PartitionKey eq '${partitionKey.replace(/'/g, "''")}'`;
    for await (const row of table.listEntities({ queryOptions: { filter, select: ['RowKey'] } }))
      keys.push(row.rowKey!);
    for (let i = 0; i < keys.length; i += BATCH_OPERATIONS) {
      const actions: TransactionAction[] = keys
        .slice(i, i + BATCH_OPERATIONS)
        .map((rowKey) => ['delete', { partitionKey, rowKey }]);
      await table.submitTransaction(actions);
    }
  }

  async readHistory(instanceId: string, executionId: string, length: number): Promise<HistoryRow[]> {
    const pk = toKey(instanceId).replace(/'/g, "''");
    const filter = `PartitionKey eq '${pk}' and RowKey ge '${executionId}-' and RowKey lt '${executionId}.'`;
    const raw: Record<string, unknown>[] = [];
    for await (const row of this.history.listEntities<Record<string, unknown>>({ queryOptions: { filter } }))
      raw.push(row);
    raw.sort((a, b) => ((a.rowKey as string) < (b.rowKey as string) ? -1 : 1));
    const rows = await Promise.all(
      raw.slice(0, length).map(async (row): Promise<HistoryRow> => {
        const event = JSON.parse((await this.unpack(row, 'Event'))!) as HistoryEvent;
        return {
          event,
          ...(typeof row.Leaf === 'number' ? { leaf: row.Leaf } : {}),
          ...(typeof row.Role === 'string' ? { role: row.Role as HistoryRole } : {}),
        };
      }),
    );
    if (rows.length < length)
      throw new Error(`History of instance '${instanceId}' has ${rows.length} rows, expected ${length}.`);
    return rows;
  }

  async appendHistory(
    instanceId: string,
    executionId: string,
    startIndex: number,
    rows: HistoryRow[],
  ): Promise<void> {
    const partitionKey = toKey(instanceId);
    let batch: TransactionAction[] = [];
    let bytes = 0;
    const flush = async () => {
      if (batch.length) await this.history.submitTransaction(batch);
      batch = [];
      bytes = 0;
    };
    for (const [offset, historyRow] of rows.entries()) {
      const rowKey = `${executionId}-${String(startIndex + offset).padStart(8, '0')}`;
      const entity: Row = { partitionKey, rowKey };
      await this.pack(
        entity,
        'Event',
        JSON.stringify(historyRow.event),
        `${partitionKey}/${executionId}/history-${rowKey}.json`,
      );
      if (historyRow.leaf !== undefined) entity.Leaf = historyRow.leaf;
      if (historyRow.role !== undefined) entity.Role = historyRow.role;
      const size = 2 * ((entity.Event as string | undefined)?.length ?? 0) + 512;
      if (batch.length >= BATCH_OPERATIONS || bytes + size > BATCH_BYTES) await flush();
      // Upsert: rows past the committed length may be leftovers of a killed host; they are overwritten.
      batch.push(['upsert', entity, 'Replace']);
      bytes += size;
    }
    await flush();
  }

  async clearHistory(instanceId: string): Promise<void> {
    await this.deletePartition(this.history, toKey(instanceId));
  }

  async putMessage(message: InboxMessage): Promise<void> {
    const row: Row = { partitionKey: toKey(message.instanceId), rowKey: message.id };
    await this.pack(
      row,
      'Message',
      JSON.stringify(message),
      `${toKey(message.instanceId)}/inbox-${message.id}.json`,
    );
    await this.inbox.upsertEntity(row, 'Replace');
  }

  async listMessages(): Promise<InboxMessage[]> {
    const rows: Record<string, unknown>[] = [];
    for await (const row of this.inbox.listEntities<Record<string, unknown>>()) rows.push(row);
    return Promise.all(
      rows.map(async (row) => JSON.parse((await this.unpack(row, 'Message'))!) as InboxMessage),
    );
  }

  async deleteMessages(instanceId: string, ids: string[]): Promise<void> {
    const partitionKey = toKey(instanceId);
    for (let i = 0; i < ids.length; i += BATCH_OPERATIONS) {
      const actions: TransactionAction[] = ids
        .slice(i, i + BATCH_OPERATIONS)
        .map((rowKey) => ['delete', { partitionKey, rowKey }]);
      try {
        await this.inbox.submitTransaction(actions);
      } catch {
        // A batch fails as a whole when one row is already gone (a re-delivered message after a restart):
        // delete one by one and ignore the missing ones.
        for (const rowKey of ids.slice(i, i + BATCH_OPERATIONS))
          await this.inbox.deleteEntity(partitionKey, rowKey).catch((error: unknown) => {
            if (statusCodeOf(error) !== 404) throw error;
          });
      }
    }
  }
}
