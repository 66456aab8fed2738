/**
 * What the parts of the engine share: the host and the store, the in-memory inbox, the loaded instances,
 * the timers, the strictly increasing clock, and putting a message in the inbox. `DurableEngine` owns one;
 * `EpisodeRunner`, `Endings` and `WorkDispatcher` work on it.
 */
import type { FunctionHost } from '../host/types';
import { PayloadTooLargeError } from './errors';
import { events } from './history';
import { Inbox, type MessageFields } from './inbox';
import { InstancePersistence } from './persistence';
import { absorb, newRuntime, type Runtime } from './runtime';
import { Semaphore } from './semaphore';
import { type DurableStore, type InboxMessage, type InstanceRecord, isTerminal } from './store';
import { DurableTimers } from './timers';

/** The settings the shared state is built from. */
export interface EngineCoreOptions {
  host: FunctionHost;
  store: DurableStore;
  maxConcurrentActivities: number;
  maxConcurrentOrchestrations: number;
  maxPayloadBytes: number;
  clock: () => Date;
  log: (message: string) => void;
}

/** The engine's shared state and the primitives every part uses. */
export class EngineCore {
  readonly host: FunctionHost;
  readonly store: DurableStore;
  readonly clock: () => Date;
  readonly log: (message: string) => void;
  readonly activities: Semaphore;
  readonly orchestrations: Semaphore;
  readonly inbox: Inbox;
  readonly persistence: InstancePersistence;
  readonly timers: DurableTimers;
  /** Loaded instances that are not finished. */
  readonly runtimes = new Map<string, Runtime>();
  /** Instance id -> execution id of every instance that is not finished. */
  readonly live = new Map<string, string>();
  /** Instances that got messages while an episode of theirs was running: run another episode. */
  readonly dirty = new Set<string>();
  readonly inFlight = new Set<Promise<unknown>>();
  /** Counts for tests and diagnostics. */
  readonly stats = { episodes: 0, activityInvocations: 0 };
  stopped = false;
  /** Set by the engine: schedules an episode for an instance that got a message. */
  wake: (instanceId: string) => void = () => undefined;
  private readonly maxPayloadBytes: number;
  private lastTimestamp = 0;

  constructor(options: EngineCoreOptions) {
    this.host = options.host;
    this.store = options.store;
    this.clock = options.clock;
    this.log = options.log;
    this.maxPayloadBytes = options.maxPayloadBytes;
    this.activities = new Semaphore(options.maxConcurrentActivities);
    this.orchestrations = new Semaphore(options.maxConcurrentOrchestrations);
    this.inbox = new Inbox(() => this.now());
    this.persistence = new InstancePersistence(this.store, this.inbox, () => this.now());
    this.timers = new DurableTimers(this.clock);
  }

  /** A strictly increasing "now", so OrchestratorStarted timestamps never go backwards. */
  now(): Date {
    const t = Math.max(this.clock().getTime(), this.lastTimestamp + 1);
    this.lastTimestamp = t;
    return new Date(t);
  }

  /** Checks a JSON payload against the size limit. */
  checkPayload(instanceId: string, what: string, json: string | undefined): void {
    if (json === undefined) return;
    const bytes = Buffer.byteLength(json);
    if (bytes > this.maxPayloadBytes)
      throw new PayloadTooLargeError(instanceId, what, bytes, this.maxPayloadBytes);
  }

  /** Keeps a promise in `inFlight` until it settles (stop and idle wait for them). */
  track<T>(promise: Promise<T>): Promise<T> {
    this.inFlight.add(promise);
    void promise.finally(() => this.inFlight.delete(promise)).catch(() => undefined);
    return promise;
  }

  /** A new inbox message (not stored yet). */
  message(instanceId: string, kind: InboxMessage['kind'], fields: MessageFields): InboxMessage {
    return this.inbox.create(instanceId, kind, fields);
  }

  /** The start message of the record's current execution. */
  startMessage(record: InstanceRecord): InboxMessage {
    const parent =
      record.parentInstanceId !== undefined && record.parentTaskId !== undefined
        ? { instanceId: record.parentInstanceId, taskScheduledId: record.parentTaskId }
        : undefined;
    return this.message(record.instanceId, 'start', {
      executionId: record.executionId,
      event: events.executionStarted(this.now(), record.name, record.input, parent),
    });
  }

  /** Persists a message, then wakes its instance. */
  async enqueue(message: InboxMessage): Promise<void> {
    await this.store.putMessage(message);
    this.inbox.add(message);
    this.wake(message.instanceId);
  }

  /** The instance's runtime: the loaded one, or rebuilt from its stored history. */
  async load(instanceId: string): Promise<Runtime | undefined> {
    const cached = this.runtimes.get(instanceId);
    if (cached) return cached;
    const record = await this.store.readInstance(instanceId);
    if (!record) return undefined;
    const history = await this.store.readHistory(instanceId, record.executionId, record.historyLength);
    const rt = newRuntime(record);
    for (const row of history) {
      row.event.IsPlayed = true;
      absorb(rt, row, true);
    }
    if (!isTerminal(record.runtimeStatus)) {
      this.runtimes.set(instanceId, rt);
      this.live.set(instanceId, record.executionId);
    }
    return rt;
  }
}
