/**
 * The in-memory copy of the persisted inbox: per instance, the messages (start, activity results, timers,
 * events, control) not yet consumed, in id order. Ids start with the time and a counter, so they sort in
 * the order messages were created.
 */
import { randomUUID } from 'node:crypto';

import type { HistoryEvent } from './history';
import type { InboxMessage } from './store';

/** The fields a message may carry besides its instance and kind. */
export interface MessageFields {
  executionId?: string;
  event?: HistoryEvent;
  reason?: string;
}

/** Per instance, the messages waiting to be consumed, sorted by id. */
export class Inbox {
  private readonly lists = new Map<string, InboxMessage[]>();
  private counter = 0;

  constructor(private readonly now: () => Date) {}

  /** A new message (not stored yet) whose id sorts after every message created before it. */
  create(instanceId: string, kind: InboxMessage['kind'], fields: MessageFields): InboxMessage {
    this.counter += 1;
    const now = this.now();
    return {
      id: `${String(now.getTime()).padStart(15, '0')}-${String(this.counter).padStart(9, '0')}-${randomUUID().slice(0, 8)}`,
      instanceId,
      kind,
      enqueued: now.toISOString(),
      ...fields,
    };
  }

  /** Adds a message to its instance's list, keeping the list in id order. */
  add(message: InboxMessage): void {
    const list = this.lists.get(message.instanceId) ?? [];
    list.push(message);
    list.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    this.lists.set(message.instanceId, list);
  }

  /** The instance's waiting messages (undefined when none ever arrived or all were consumed). */
  get(instanceId: string): InboxMessage[] | undefined {
    return this.lists.get(instanceId);
  }

  /** Removes the messages with these ids. */
  remove(instanceId: string, ids: Set<string>): void {
    const list = this.lists.get(instanceId);
    if (!list) return;
    const rest = list.filter((m) => !ids.has(m.id));
    if (rest.length) this.lists.set(instanceId, rest);
    else this.lists.delete(instanceId);
  }

  /** Removes every message of the instance. */
  drop(instanceId: string): void {
    this.lists.delete(instanceId);
  }

  /** Ids of the instances with waiting messages. */
  instanceIds(): IterableIterator<string> {
    return this.lists.keys();
  }

  /** Every instance's list of waiting messages. */
  allLists(): IterableIterator<InboxMessage[]> {
    return this.lists.values();
  }
}
