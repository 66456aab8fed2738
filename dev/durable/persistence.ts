/**
 * Committing an episode: history rows first, then the instance row (status, and the ids of the inbox
 * messages the episode consumed: the commit point), then the deletion of those messages. A host killed
 * between the instance write and the deletion finds the ids in the row on restart and skips the messages,
 * so consuming the inbox is idempotent (an external event is delivered once).
 */
import type { Inbox } from './inbox';
import { absorb, type Runtime } from './runtime';
import type { DurableStore, HistoryRow, InstanceRecord, RuntimeStatus } from './store';

/** Writes episodes' outcomes and consumes their messages, in the order that survives a kill. */
export class InstancePersistence {
  /**
   * Per instance: ids recorded as consumed in the instance row whose inbox deletion is not confirmed yet.
   * The next commit records them again, so a later restart still skips them if the deletion failed.
   */
  private readonly undeleted = new Map<string, Set<string>>();

  constructor(
    private readonly store: DurableStore,
    private readonly inbox: Inbox,
    private readonly now: () => Date,
  ) {}

  /** Appends `rows` to the instance's history, sets its status and consumes `consumed`. */
  async commit(rt: Runtime, rows: HistoryRow[], consumed: string[], status: RuntimeStatus): Promise<void> {
    const { record } = rt;
    await this.store.appendHistory(record.instanceId, record.executionId, rt.history.length, rows);
    record.historyLength = rt.history.length + rows.length;
    record.runtimeStatus = status;
    record.lastUpdatedTime = this.now().toISOString();
    await this.writeConsumed(record, consumed);
    for (const row of rows) absorb(rt, row, false);
    for (const row of rows) row.event.IsPlayed = true;
    await this.consume(record.instanceId, consumed);
  }

  /**
   * Puts the ids of the messages this write consumes into the instance row (the commit point), so that
   * consuming the inbox is idempotent across a host killed between the write and the inbox deletion.
   */
  async writeConsumed(record: InstanceRecord, consumed: string[]): Promise<void> {
    const ids = new Set([...(this.undeleted.get(record.instanceId) ?? []), ...consumed]);
    if (ids.size) record.consumedMessageIds = [...ids];
    else delete record.consumedMessageIds;
    await this.store.writeInstance(record);
    this.undeleted.set(record.instanceId, ids);
  }

  /** Deletes consumed messages (and those an earlier deletion left) from the inbox and from storage. */
  async consume(instanceId: string, ids: string[]): Promise<void> {
    const pending = this.undeleted.get(instanceId);
    const all = [...new Set([...(pending ?? []), ...ids])];
    if (!all.length) return;
    this.inbox.remove(instanceId, new Set(all));
    await this.store.deleteMessages(instanceId, all);
    this.undeleted.delete(instanceId);
  }

  /** Forgets the instance's unconfirmed deletions (it is being purged or replaced). */
  forget(instanceId: string): void {
    this.undeleted.delete(instanceId);
  }
}
