/** The Durable store in memory: for the engine's unit tests (nothing survives the process). */
import {
  type DurableStore,
  type HistoryRow,
  type InboxMessage,
  type InstanceRecord,
  type InstanceWriteCondition,
  InstanceWriteConflictError,
} from './store';

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
