/**
 * The Durable store in Azure Tables + blobs (Azurite locally): the real one, which survives a killed host.
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
import {
  type DurableStore,
  type HistoryRole,
  type HistoryRow,
  type InboxMessage,
  type InstanceRecord,
  type InstanceWriteCondition,
  InstanceWriteConflictError,
} from './store';

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
