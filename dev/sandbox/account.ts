/**
 * One sandbox ActiveCampaign account: its contacts, list memberships and import batches, and the rules
 * bulk import applies to each contact (docs/activecampaign.md, "Import outcome").
 * Pure state + logic; the HTTP layer (server.ts) decides when things happen.
 */
import { randomUUID } from 'node:crypto';

/** 1 = subscribed, 2 = unsubscribed (developers.activecampaign.com/reference/update-list-status-for-contact). */
export type MembershipStatus = 1 | 2;

export interface SandboxContact {
  id: string;
  email: string;
  firstName: string;
  lastName: string;
  phone: string;
  fields: Record<string, string>;
  tags: string[];
  /** listId → status. */
  lists: Record<string, MembershipStatus>;
  /** How many times an import or sync wrote this contact (a duplicate submission shows up here). */
  writes: number;
}

export interface SandboxList {
  id: string;
  name: string;
  stringid: string;
}

/** What a bulk import contact looks like on the wire (loosely; the server validates). */
export interface WireContact {
  email?: unknown;
  first_name?: unknown;
  last_name?: unknown;
  phone?: unknown;
  tags?: unknown;
  fields?: unknown;
  subscribe?: unknown;
  unsubscribe?: unknown;
}

export type BatchFate = 'completed' | 'failed' | 'interrupted';

export interface SandboxBatch {
  id: string;
  createdAt: number;
  /** Before this, import/info answers `status: false`. */
  readyAt: number;
  /** From here until `activeAt`, import/info says `claimed` (a worker has taken the batch, not started it). */
  claimedAt: number;
  activeAt: number;
  doneAt: number;
  fate: BatchFate;
  contacts: WireContact[];
  applied: boolean;
  success: string[];
  failure: string[];
}

export interface AccountOptions {
  name: string;
  apiKeys: string[];
  lists?: { id: number; name: string }[];
  /** Plan cap on contacts (Starter: 10,000); over it, imports fail per contact. */
  contactLimit?: number;
  excludedEmails?: string[];
  bouncedEmails?: string[];
}

// ActiveCampaign's documented email rule (see docs/activecampaign.md, "The email rule"); written independently of the
// client's copy on purpose, so a bug in one is caught by the other.
const EMAIL_RULE = /^[^"(),:;<>@[\\\]\s]+@[^"(),:;<>@[\\\]\s]*\.[A-Za-z]{2,}$/;

/** True when the sandbox's copy of ActiveCampaign's email rule accepts `email`. */
export function sandboxEmailValid(email: unknown): email is string {
  return typeof email === 'string' && EMAIL_RULE.test(email);
}

export class SandboxAccount {
  readonly name: string;
  readonly apiKeys: Set<string>;
  readonly contacts = new Map<string, SandboxContact>();
  readonly lists = new Map<string, SandboxList>();
  readonly batches = new Map<string, SandboxBatch>();
  readonly excluded: Set<string>;
  readonly bounced: Set<string>;
  contactLimit: number;
  private nextContactId = 1;

  constructor(options: AccountOptions) {
    this.name = options.name;
    this.apiKeys = new Set(options.apiKeys);
    for (const list of options.lists ?? [{ id: 1, name: 'Sandbox list' }]) {
      this.lists.set(String(list.id), { id: String(list.id), name: list.name, stringid: slug(list.name) });
    }
    this.contactLimit = options.contactLimit ?? Number.POSITIVE_INFINITY;
    this.excluded = new Set((options.excludedEmails ?? []).map((e) => e.toLowerCase()));
    this.bounced = new Set((options.bouncedEmails ?? []).map((e) => e.toLowerCase()));
  }

  /** Forgets contacts and batches (lists, exclusions and keys stay). */
  reset(): void {
    this.contacts.clear();
    this.batches.clear();
    this.nextContactId = 1;
  }

  /** Creates or updates a contact by email (what `contact/sync` does). */
  upsert(
    email: string,
    data: Partial<Pick<SandboxContact, 'firstName' | 'lastName' | 'phone'>> = {},
  ): SandboxContact {
    const key = email.toLowerCase();
    let contact = this.contacts.get(key);
    if (!contact) {
      contact = {
        id: String(this.nextContactId++),
        email,
        firstName: '',
        lastName: '',
        phone: '',
        fields: {},
        tags: [],
        lists: {},
        writes: 0,
      };
      this.contacts.set(key, contact);
    }
    if (data.firstName !== undefined) contact.firstName = data.firstName;
    if (data.lastName !== undefined) contact.lastName = data.lastName;
    if (data.phone !== undefined) contact.phone = data.phone;
    contact.writes++;
    return contact;
  }

  contactById(id: string): SandboxContact | undefined {
    for (const contact of this.contacts.values()) if (contact.id === id) return contact;
    return undefined;
  }

  /**
   * Applies one bulk-imported contact. Returns the contact id, or undefined when ActiveCampaign would skip it
   * and list its email under `failure`. Chosen reading for opt-outs: a contact unsubscribed (status 2) from a
   * list the import would subscribe them to is skipped entirely and listed under `failure`, as the doc says.
   */
  importContact(wire: WireContact): string | undefined {
    if (!sandboxEmailValid(wire.email)) return undefined;
    const key = wire.email.toLowerCase();
    if (this.excluded.has(key) || this.bounced.has(key)) return undefined;
    const existing = this.contacts.get(key);
    const subscribe = listIds(wire.subscribe);
    const unsubscribe = listIds(wire.unsubscribe);
    if (existing && subscribe.some((id) => existing.lists[id] === 2)) return undefined;
    if (!existing && this.contacts.size >= this.contactLimit) return undefined;
    const contact = this.upsert(wire.email, {
      firstName: str(wire.first_name),
      lastName: str(wire.last_name),
      phone: str(wire.phone),
    });
    if (Array.isArray(wire.tags))
      for (const tag of wire.tags)
        if (typeof tag === 'string' && !contact.tags.includes(tag)) contact.tags.push(tag);
    if (Array.isArray(wire.fields)) {
      for (const f of wire.fields as { id?: unknown; value?: unknown }[]) {
        if (f && (typeof f.id === 'string' || typeof f.id === 'number') && typeof f.value === 'string')
          contact.fields[String(f.id)] = f.value;
      }
    }
    // Unknown list ids are ignored (the exporter verifies its list before pushing).
    for (const id of subscribe) if (this.lists.has(id)) contact.lists[id] = 1;
    for (const id of unsubscribe) if (contact.lists[id] !== undefined) contact.lists[id] = 2;
    return contact.id;
  }

  /** Queues a batch that becomes visible after `readyDelay`, active after `waitDelay`, done after processing. */
  queueBatch(
    contacts: WireContact[],
    now: number,
    timing: { readyDelayMs: number; waitingMs: number; claimedMs?: number; msPerContact: number },
    fate: BatchFate,
  ): SandboxBatch {
    const readyAt = now + timing.readyDelayMs;
    const activeAt = Math.max(readyAt, now + timing.waitingMs);
    const batch: SandboxBatch = {
      id: randomUUID(),
      createdAt: now,
      readyAt,
      // The documented order is waiting → claimed → active; `claimed` takes the end of the waiting time.
      claimedAt: Math.max(readyAt, activeAt - (timing.claimedMs ?? 300)),
      activeAt,
      doneAt: activeAt + timing.msPerContact * contacts.length,
      fate,
      contacts,
      applied: false,
      success: [],
      failure: [],
    };
    this.batches.set(batch.id, batch);
    return batch;
  }

  /** Applies every batch whose processing finished by `now`, in completion order. */
  advance(now: number): void {
    const due = [...this.batches.values()]
      .filter((b) => !b.applied && b.doneAt <= now)
      .sort((a, b) => a.doneAt - b.doneAt);
    for (const batch of due) {
      batch.applied = true;
      // failed: nothing applied. interrupted: the first half applied, then it stopped. Neither is retried by AC.
      const count =
        batch.fate === 'completed'
          ? batch.contacts.length
          : batch.fate === 'interrupted'
            ? Math.floor(batch.contacts.length / 2)
            : 0;
      for (const wire of batch.contacts.slice(0, count)) {
        const id = this.importContact(wire);
        if (id === undefined) batch.failure.push(typeof wire.email === 'string' ? wire.email : '');
        else batch.success.push(id);
      }
    }
  }

  /** What `import/info` says about a batch at `now` (every batch done by `now` is applied first). */
  info(batch: SandboxBatch, now: number): Record<string, unknown> {
    // A request may read the clock again after its own `advance`: a batch finishing in between must not
    // be reported `completed` before its contacts are applied (success/failure would be empty).
    if (!batch.applied && batch.doneAt <= now) this.advance(now);
    if (now < batch.readyAt) return { status: false };
    if (now < batch.claimedAt) return { status: 'waiting' };
    if (now < batch.activeAt) return { status: 'claimed' };
    if (now < batch.doneAt) return { status: 'active' };
    if (batch.fate !== 'completed') return { status: batch.fate, success: batch.success, failure: [] };
    return { status: 'completed', success: batch.success, failure: batch.failure };
  }
}

function listIds(value: unknown): string[] {
  if (!Array.isArray(value)) return [];
  return value.flatMap((entry: { listid?: unknown }) =>
    entry && (typeof entry.listid === 'number' || typeof entry.listid === 'string')
      ? [String(entry.listid)]
      : [],
  );
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function slug(name: string): string {
  return name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');
}
