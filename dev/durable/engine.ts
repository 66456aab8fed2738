/**
 * The orchestration engine: plays the part of the Durable extension + DTFx for the local host.
 *
 * Every step ("episode") replays the orchestrator from the start of its history through the real
 * `durable-functions` executor (invoked via the host like any function), exactly as the extension does.
 * The executor only knows *what* was scheduled (its actions); the engine assigns sequence ids the way the
 * executor will expect them on the next replay (lib/src/orchestrations/TaskOrchestrationExecutor.js):
 *  - each new id-taking action (activity, timer, sub-orchestration) takes the next id, depth first;
 *  - a retried task takes one id for the timer after each failure and one for each new attempt
 *    (lib/src/task/RetryableTask.js), assigned while the executor processes the failure/timer event —
 *    before the generator resumes. So an episode puts those id-assigning events first, and the ids they
 *    take come before the ids of the actions the episode's generator yields.
 * Messages (start, activity results, timers, events, control) land in a persisted inbox first; an episode
 * consumes a batch, appends the history rows and only then dispatches new work, so a killed host resumes
 * from storage: scheduled-but-unfinished activities are re-run (at least once, as in Azure), finished ones
 * (their result is in the inbox or history) are not.
 */
import { randomUUID } from 'node:crypto';

import type { FunctionHost } from '../host/types';
import {
  type Decisions,
  describeLeaf,
  flattenActions,
  type Leaf,
  type OrchestratorState,
  parseOrchestratorFailure,
  type RetryOptionsWire,
} from './actions';
import { NonDeterministicOrchestrationError, PayloadTooLargeError } from './errors';
import { completedId, events, EventType, type FailureDetails, type HistoryEvent } from './history';
import { retryDelayMs, retryTimedOut } from './retry';
import { Semaphore } from './semaphore';
import {
  type DurableStore,
  type HistoryRole,
  type HistoryRow,
  type InboxMessage,
  type InstanceRecord,
  InstanceWriteConflictError,
  isTerminal,
  type RuntimeStatus,
} from './store';

/**
 * Replay schema announced to the library: V3 (`ReplaySchema.V3` = 2, WhenAll/WhenAny trees), what the
 * current extension announces as `upperSchemaVersion`. V4 (entity locks) is not announced: entities are
 * not implemented, and `context.df.lock` then fails loudly in the library itself.
 */
export const UPPER_SCHEMA_VERSION = 2;
/**
 * Timers are never split locally: the extension splits timers longer than its storage provider's maximum
 * (6 days on Azure Storage) into 3-day chunks; a local timer of any length is one timer.
 */
const MAXIMUM_SHORT_TIMER_DURATION = '36500.00:00:00';
const LONG_RUNNING_TIMER_INTERVAL = '3.00:00:00';
/** The longest setTimeout Node accepts; longer timers re-arm. */
const MAX_TIMEOUT_MS = 2_147_000_000;

export interface EngineOptions {
  host: FunctionHost;
  store: DurableStore;
  maxConcurrentActivities: number;
  maxConcurrentOrchestrations: number;
  /** Largest JSON payload (input, output, event data, custom status) in bytes. */
  maxPayloadBytes: number;
  clock?: () => Date;
  /** Warnings and errors (failed instances, storage trouble). */
  log?: (message: string) => void;
}

/** What the engine knows about one decision (leaf) of the current execution. */
interface LeafState {
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
interface Runtime {
  record: InstanceRecord;
  history: HistoryRow[];
  leaves: LeafState[];
  owners: Map<number, { leaf: number; role: HistoryRole }>;
  scheduled: Map<number, HistoryEvent>;
  completed: Set<number>;
  nextId: number;
}

/** A status snapshot for the HTTP API. */
export interface InstanceSnapshot {
  record: InstanceRecord;
  history?: HistoryEvent[];
}

const TERMINAL_MESSAGE_KINDS = new Set(['terminate']);

function jsonText(value: unknown): string | undefined {
  return value === undefined ? undefined : JSON.stringify(value);
}

function errorDetails(error: unknown): FailureDetails {
  if (error instanceof Error) {
    // An activity failure may carry a FailureDetails JSON in its message when the app registered an
    // exception properties provider (lib/src/app.js wrapActivityHandler).
    try {
      const parsed = JSON.parse(error.message) as Record<string, unknown>;
      if (parsed && typeof parsed.errorType === 'string' && typeof parsed.errorMessage === 'string') {
        return {
          ErrorType: parsed.errorType,
          ErrorMessage: parsed.errorMessage,
          ...(typeof parsed.stackTrace === 'string' ? { StackTrace: parsed.stackTrace } : {}),
          ...(parsed.properties && typeof parsed.properties === 'object'
            ? { Properties: parsed.properties as Record<string, unknown> }
            : {}),
        };
      }
    } catch {
      // Not JSON: a plain error.
    }
    return {
      ErrorType: error.name || 'Error',
      ErrorMessage: error.message,
      ...(error.stack ? { StackTrace: error.stack } : {}),
    };
  }
  return { ErrorType: 'Error', ErrorMessage: String(error) };
}

/** The orchestration engine; one per task hub. */
export class DurableEngine {
  private readonly host: FunctionHost;
  private readonly store: DurableStore;
  private readonly clock: () => Date;
  private readonly log: (message: string) => void;
  private readonly maxPayloadBytes: number;
  private readonly activities: Semaphore;
  private readonly orchestrations: Semaphore;

  private readonly runtimes = new Map<string, Runtime>();
  /** Instance id -> execution id of every instance that is not finished. */
  private readonly live = new Map<string, string>();
  private readonly inbox = new Map<string, InboxMessage[]>();
  private readonly busy = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly inFlight = new Set<Promise<unknown>>();
  /**
   * Per instance: ids recorded as consumed in the instance row whose inbox deletion is not confirmed yet.
   * The next commit records them again, so a later restart still skips them if the deletion failed.
   */
  private readonly undeleted = new Map<string, Set<string>>();
  private lastTimestamp = 0;
  private messageCounter = 0;
  private stopped = false;

  /** Counts for tests and diagnostics. */
  readonly stats = { episodes: 0, activityInvocations: 0 };

  constructor(options: EngineOptions) {
    this.host = options.host;
    this.store = options.store;
    this.clock = options.clock ?? (() => new Date());
    this.log = options.log ?? ((message) => process.stderr.write(`[durable] ${message}\n`));
    this.maxPayloadBytes = options.maxPayloadBytes;
    this.activities = new Semaphore(options.maxConcurrentActivities);
    this.orchestrations = new Semaphore(options.maxConcurrentOrchestrations);
  }

  /** A strictly increasing "now", so OrchestratorStarted timestamps never go backwards. */
  private now(): Date {
    const t = Math.max(this.clock().getTime(), this.lastTimestamp + 1);
    this.lastTimestamp = t;
    return new Date(t);
  }

  /** Loads the inbox and resumes every unfinished instance and its pending work. */
  async start(): Promise<void> {
    await this.store.init();
    for (const message of await this.store.listMessages()) this.addToInbox(message);
    const instances = await this.store.listInstances();
    for (const record of instances) {
      // Messages the last commit consumed but a killed host did not delete: their effect is already in
      // the committed state, applying them again would deliver them twice (e.g. an EventRaised).
      const queued = new Set((this.inbox.get(record.instanceId) ?? []).map((m) => m.id));
      const leftovers = (record.consumedMessageIds ?? []).filter((id) => queued.has(id));
      if (leftovers.length) await this.consume(record.instanceId, leftovers);
      if (isTerminal(record.runtimeStatus)) continue;
      const pending = this.inbox.get(record.instanceId) ?? [];
      if (
        record.runtimeStatus === 'Pending' &&
        record.historyLength === 0 &&
        !pending.some((m) => m.kind === 'start')
      ) {
        // Killed between writing the instance and its start message: start it now.
        await this.enqueue(this.startMessage(record));
        continue;
      }
      const rt = await this.load(record.instanceId);
      if (rt) await this.resumePendingWork(rt);
    }
    for (const instanceId of this.inbox.keys()) this.wake(instanceId);
  }

  /** Stops timers and waits for running episodes; activities still running finish unobserved. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const handle of this.timers.values()) clearTimeout(handle);
    this.timers.clear();
    await Promise.allSettled([...this.inFlight]);
  }

  /** Resolves when no episode or activity is running and no message waits (tests). */
  async idle(): Promise<void> {
    while (
      this.inFlight.size > 0 ||
      [...this.inbox.values()].some((l) => l.length > 0 && !this.isParked(l))
    ) {
      await Promise.allSettled([...this.inFlight]);
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  /** Polls until the instance is terminal (tests, CLI); rejects after `timeoutMs`. */
  async waitForCompletion(instanceId: string, timeoutMs = 30_000): Promise<InstanceRecord> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const record = await this.store.readInstance(instanceId);
      if (record && isTerminal(record.runtimeStatus)) return record;
      if (Date.now() > deadline)
        throw new Error(
          `Instance '${instanceId}' is still ${record?.runtimeStatus ?? 'missing'} after ${timeoutMs} ms.`,
        );
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  private isParked(messages: InboxMessage[]): boolean {
    const first = messages[0];
    if (!first) return true;
    const rt = this.runtimes.get(first.instanceId);
    return (
      rt?.record.runtimeStatus === 'Suspended' &&
      messages.every((m) => m.kind !== 'resume' && m.kind !== 'terminate')
    );
  }

  private track<T>(promise: Promise<T>): Promise<T> {
    this.inFlight.add(promise);
    void promise.finally(() => this.inFlight.delete(promise)).catch(() => undefined);
    return promise;
  }

  // ---------------------------------------------------------------- client operations (HTTP API)

  /** Checks a JSON payload against the size limit. */
  checkPayload(instanceId: string, what: string, json: string | undefined): void {
    if (json === undefined) return;
    const bytes = Buffer.byteLength(json);
    if (bytes > this.maxPayloadBytes)
      throw new PayloadTooLargeError(instanceId, what, bytes, this.maxPayloadBytes);
  }

  /** True when `name` is a registered orchestrator function. */
  isOrchestrator(name: string): boolean {
    return this.host.getFunction(name)?.trigger.type === 'orchestrationTrigger';
  }

  /**
   * Creates an instance (as the extension's start API does). Throws `InstanceExistsError` when a
   * non-terminal instance has that id; a terminal one is replaced. Concurrent starts of one id are decided
   * by storage, not by the read: the row is created only if absent and a terminal row is replaced only
   * with the ETag it was read with, so exactly one start wins and the others get `InstanceExistsError`.
   */
  async startNew(
    name: string,
    instanceId: string,
    inputJson: string | undefined,
    parent?: { instanceId: string; taskId: number; executionId: string },
  ): Promise<InstanceRecord> {
    this.checkPayload(instanceId, 'the orchestration input', inputJson);
    // A lost conditional write re-reads: the winner's row answers InstanceExistsError; a row purged in
    // between lets this start try again (bounded: each lap needs another writer to win meanwhile).
    for (let attempt = 1; ; attempt++) {
      const existing = await this.store.readInstanceVersion(instanceId);
      if (existing && !isTerminal(existing.record.runtimeStatus))
        throw new InstanceExistsError(instanceId, existing.record.runtimeStatus);
      const record = this.newRecord(name, instanceId, inputJson, parent);
      try {
        await this.store.writeInstance(record, existing ? { ifMatch: existing.etag } : { ifAbsent: true });
      } catch (error) {
        if (!(error instanceof InstanceWriteConflictError)) throw error;
        if (attempt >= 5) throw new InstanceExistsError(instanceId, 'Pending');
        continue;
      }
      if (existing) {
        // Only the winner clears what the terminal instance left (history, inbox, its blobs).
        this.forget(instanceId);
        await this.store.clearInstanceData(instanceId, record.executionId);
      }
      this.live.set(instanceId, record.executionId);
      await this.enqueue(this.startMessage(record));
      return record;
    }
  }

  private newRecord(
    name: string,
    instanceId: string,
    inputJson: string | undefined,
    parent: { instanceId: string; taskId: number; executionId: string } | undefined,
  ): InstanceRecord {
    const now = this.now().toISOString();
    const record: InstanceRecord = {
      instanceId,
      name,
      executionId: randomUUID().replace(/-/g, ''),
      runtimeStatus: 'Pending',
      ...(inputJson === undefined ? {} : { input: inputJson }),
      createdTime: now,
      lastUpdatedTime: now,
      historyLength: 0,
      ...(parent
        ? {
            parentInstanceId: parent.instanceId,
            parentTaskId: parent.taskId,
            parentExecutionId: parent.executionId,
          }
        : {}),
    };
    return record;
  }

  private startMessage(record: InstanceRecord): InboxMessage {
    const parent =
      record.parentInstanceId !== undefined && record.parentTaskId !== undefined
        ? { instanceId: record.parentInstanceId, taskScheduledId: record.parentTaskId }
        : undefined;
    return this.message(record.instanceId, 'start', {
      executionId: record.executionId,
      event: events.executionStarted(this.now(), record.name, record.input, parent),
    });
  }

  /** Reads an instance's status (and, when asked, the history of its current execution). */
  async getStatus(instanceId: string, withHistory: boolean): Promise<InstanceSnapshot | undefined> {
    const record = await this.store.readInstance(instanceId);
    if (!record) return undefined;
    if (!withHistory) return { record };
    const rows = await this.store.readHistory(instanceId, record.executionId, record.historyLength);
    return { record, history: rows.map((r) => r.event) };
  }

  /** Every instance record (the list API filters and pages). */
  listInstances(): Promise<InstanceRecord[]> {
    return this.store.listInstances();
  }

  /** Queues an external event; events for a not-yet-started instance wait in its inbox. */
  async raiseEvent(instanceId: string, eventName: string, dataJson: string | undefined): Promise<void> {
    this.checkPayload(instanceId, `the data of event '${eventName}'`, dataJson);
    await this.enqueue(
      this.message(instanceId, 'event', { event: events.eventRaised(this.now(), eventName, dataJson) }),
    );
  }

  /** Queues a terminate / suspend / resume request. */
  async control(
    instanceId: string,
    kind: 'terminate' | 'suspend' | 'resume',
    reason: string | undefined,
  ): Promise<void> {
    await this.enqueue(this.message(instanceId, kind, reason === undefined ? {} : { reason }));
  }

  /** Deletes an instance and everything stored for it. */
  async purge(instanceId: string): Promise<void> {
    this.forget(instanceId);
    await this.store.deleteInstance(instanceId);
  }

  /** Drops what the engine holds in memory for an instance (runtime, inbox, timers). */
  private forget(instanceId: string): void {
    this.undeleted.delete(instanceId);
    this.runtimes.delete(instanceId);
    this.live.delete(instanceId);
    this.inbox.delete(instanceId);
    const timerPrefix = `${instanceId}\n`;
    for (const [key, handle] of this.timers)
      if (key.startsWith(timerPrefix)) {
        clearTimeout(handle);
        this.timers.delete(key);
      }
  }

  // ---------------------------------------------------------------- inbox

  private message(
    instanceId: string,
    kind: InboxMessage['kind'],
    fields: { executionId?: string; event?: HistoryEvent; reason?: string },
  ): InboxMessage {
    this.messageCounter += 1;
    const now = this.now();
    return {
      id: `${String(now.getTime()).padStart(15, '0')}-${String(this.messageCounter).padStart(9, '0')}-${randomUUID().slice(0, 8)}`,
      instanceId,
      kind,
      enqueued: now.toISOString(),
      ...fields,
    };
  }

  private addToInbox(message: InboxMessage): void {
    const list = this.inbox.get(message.instanceId) ?? [];
    list.push(message);
    list.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    this.inbox.set(message.instanceId, list);
  }

  /** Persists a message, then wakes its instance. */
  private async enqueue(message: InboxMessage): Promise<void> {
    await this.store.putMessage(message);
    this.addToInbox(message);
    this.wake(message.instanceId);
  }

  /** Schedules an episode for the instance (one at a time per instance). */
  private wake(instanceId: string): void {
    if (this.stopped) return;
    if (this.busy.has(instanceId)) {
      this.dirty.add(instanceId);
      return;
    }
    this.busy.add(instanceId);
    void this.track(
      this.orchestrations
        .run(async () => {
          do {
            this.dirty.delete(instanceId);
            await this.episode(instanceId);
          } while (this.dirty.has(instanceId) && !this.stopped);
        })
        .catch((error: unknown) => {
          // The in-memory state may be ahead of storage now: reload it on the next episode.
          this.runtimes.delete(instanceId);
          this.log(`episode of '${instanceId}' failed: ${(error as Error).stack ?? String(error)}`);
        })
        .finally(() => this.busy.delete(instanceId)),
    );
  }

  // ---------------------------------------------------------------- loading

  private async load(instanceId: string): Promise<Runtime | undefined> {
    const cached = this.runtimes.get(instanceId);
    if (cached) return cached;
    const record = await this.store.readInstance(instanceId);
    if (!record) return undefined;
    const history = await this.store.readHistory(instanceId, record.executionId, record.historyLength);
    const rt: Runtime = {
      record,
      history: [],
      leaves: [],
      owners: new Map(),
      scheduled: new Map(),
      completed: new Set(),
      nextId: 0,
    };
    for (const row of history) {
      row.event.IsPlayed = true;
      this.absorb(rt, row, true);
    }
    if (!isTerminal(record.runtimeStatus)) {
      this.runtimes.set(instanceId, rt);
      this.live.set(instanceId, record.executionId);
    }
    return rt;
  }

  /** Adds one committed history row to the runtime's bookkeeping. */
  private absorb(rt: Runtime, row: HistoryRow, fromStorage: boolean): void {
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

  // ---------------------------------------------------------------- one episode

  private async episode(instanceId: string): Promise<void> {
    const pending = this.inbox.get(instanceId);
    if (!pending?.length) return;
    const rt = await this.load(instanceId);
    if (!rt || isTerminal(rt.record.runtimeStatus)) {
      // Messages for a purged or finished instance are dropped (the extension answers 410 to new ones).
      const ids = pending.map((m) => m.id);
      this.inbox.delete(instanceId);
      await this.store.deleteMessages(instanceId, ids);
      return;
    }
    this.stats.episodes += 1;
    const batch = [...pending];
    const consumed: string[] = [];
    const now = this.now();

    const terminate = batch.find((m) => TERMINAL_MESSAGE_KINDS.has(m.kind));
    if (terminate) {
      const reason = terminate.reason;
      await this.finish(
        rt,
        'Terminated',
        jsonText(reason),
        batch.map((m) => m.id),
        [events.orchestratorStarted(now), events.executionTerminated(now, reason)],
        { ErrorType: 'Terminated', ErrorMessage: `Instance '${instanceId}' was terminated: ${reason ?? ''}` },
      );
      return;
    }

    const controlEvents: HistoryEvent[] = [];
    let suspended = rt.record.runtimeStatus === 'Suspended';
    let start: HistoryEvent | undefined;
    const idAssigning: HistoryEvent[] = [];
    const others: HistoryEvent[] = [];
    for (const message of batch) {
      if (message.kind === 'suspend' || message.kind === 'resume') {
        consumed.push(message.id);
        if (message.kind === 'suspend' && !suspended)
          controlEvents.push(events.executionSuspended(now, message.reason));
        if (message.kind === 'resume' && suspended)
          controlEvents.push(events.executionResumed(now, message.reason));
        suspended = message.kind === 'suspend';
        continue;
      }
      if (suspended) continue; // stays in the inbox until resumed
      if (message.executionId !== undefined && message.executionId !== rt.record.executionId) {
        consumed.push(message.id); // a result for an execution that continued as new
        continue;
      }
      const event = message.event!;
      consumed.push(message.id);
      if (message.kind === 'start') {
        if (rt.history.length === 0 && !start) start = { ...event, Timestamp: now.toISOString() };
        continue;
      }
      if (rt.history.length === 0 && !start) {
        // Not started yet (events raised before the start message was processed): keep for later.
        consumed.pop();
        continue;
      }
      const id = completedId(event);
      if (id !== undefined && (rt.completed.has(id) || !rt.owners.has(id))) continue; // duplicate or stale
      if (id !== undefined) rt.completed.add(id);
      const stamped = { ...event, Timestamp: now.toISOString() };
      if (id !== undefined && this.assignsRetryId(rt, id, event)) idAssigning.push(stamped);
      else others.push(stamped);
    }

    const newEvents: HistoryEvent[] = [...controlEvents];
    const scheduled: HistoryRow[] = [];
    const willRun = !suspended && (start !== undefined || idAssigning.length > 0 || others.length > 0);
    if (!willRun) {
      // Only control changes, stale messages, or nothing applicable yet.
      if (controlEvents.length > 0) {
        const status = suspended
          ? 'Suspended'
          : rt.history.length === 0
            ? rt.record.runtimeStatus
            : 'Running';
        await this.commit(
          rt,
          [events.orchestratorStarted(now), ...newEvents].map((event) => ({ event })),
          consumed,
          status,
        );
      } else {
        await this.consume(instanceId, consumed);
      }
      if (consumed.length > 0 && !suspended && this.inbox.get(instanceId)?.length) this.dirty.add(instanceId);
      return;
    }

    if (start) newEvents.push(start);
    // Retry bookkeeping first: the executor assigns these ids before the generator resumes.
    for (const event of idAssigning) {
      newEvents.push(event);
      scheduled.push(this.retryStep(rt, event, now));
    }
    newEvents.push(...others);

    const orchestratorStarted = events.orchestratorStarted(now);
    const historyForReplay = [...rt.history.map((r) => r.event), orchestratorStarted, ...newEvents];
    const { state, failure } = await this.invokeOrchestrator(rt, historyForReplay);

    let decisions: Decisions | undefined;
    let problem: FailureDetails | undefined = failure;
    if (state) {
      try {
        decisions = flattenActions(state.actions);
        this.checkDeterminism(rt, decisions);
      } catch (error) {
        problem = errorDetails(error);
        decisions = undefined;
      }
    }
    let customStatusJson = rt.record.customStatus;
    if (state && !problem) {
      try {
        customStatusJson = jsonText(state.customStatus);
        this.checkPayload(instanceId, 'the custom status', customStatusJson);
      } catch (error) {
        problem = errorDetails(error);
      }
    }
    if (decisions && !problem) {
      try {
        for (const [index, leaf] of decisions.leaves.entries()) {
          if (index < rt.leaves.length) continue;
          scheduled.push(this.firstStep(rt, index, leaf, now));
        }
      } catch (error) {
        problem = errorDetails(error);
      }
    }
    const allNew: HistoryRow[] = [
      { event: orchestratorStarted },
      ...newEvents.map((event) => ({ event })),
      ...scheduled.sort((a, b) => a.event.EventId - b.event.EventId),
    ];
    if (customStatusJson === undefined) delete rt.record.customStatus;
    else rt.record.customStatus = customStatusJson;

    if (problem || !state) {
      const details = problem ?? { ErrorType: 'Error', ErrorMessage: 'The orchestrator returned no state.' };
      const message = `Orchestrator function '${rt.record.name}' failed: ${details.ErrorMessage}`;
      this.log(`instance '${instanceId}' failed: ${details.ErrorMessage}`);
      await this.finish(
        rt,
        'Failed',
        JSON.stringify(message),
        consumed,
        [
          ...allNew.map((r) => r.event),
          events.orchestratorCompleted(now),
          events.executionCompleted(now, 'Failed', JSON.stringify(message), details),
        ],
        details,
      );
      return;
    }
    // An oversized final payload fails the execution without an OrchestratorCompleted of its own.
    const failOnPayload = (error: unknown) => {
      const details = errorDetails(error);
      return this.finish(
        rt,
        'Failed',
        JSON.stringify(details.ErrorMessage),
        consumed,
        [...allNew.map((r) => r.event), events.executionCompleted(now, 'Failed', undefined, details)],
        details,
      );
    };
    if (state.isDone && decisions?.continueAsNew) {
      const inputJson = jsonText(decisions.continueAsNew.input);
      try {
        this.checkPayload(instanceId, 'the continue-as-new input', inputJson);
      } catch (error) {
        await failOnPayload(error);
        return;
      }
      await this.continueAsNew(rt, inputJson, consumed);
      return;
    }
    if (state.isDone) {
      const outputJson = jsonText(state.output);
      try {
        this.checkPayload(instanceId, 'the orchestration output', outputJson);
      } catch (error) {
        await failOnPayload(error);
        return;
      }
      await this.finish(rt, 'Completed', outputJson, consumed, [
        ...allNew.map((r) => r.event),
        events.orchestratorCompleted(now),
        events.executionCompleted(now, 'Completed', outputJson),
      ]);
      return;
    }
    await this.commit(rt, [...allNew, { event: events.orchestratorCompleted(now) }], consumed, 'Running');
    this.dispatch(rt, scheduled);
    if (this.inbox.get(instanceId)?.length) this.dirty.add(instanceId);
  }

  /** True when processing this completion makes the executor take a new id (retry timer or attempt). */
  private assignsRetryId(rt: Runtime, id: number, event: HistoryEvent): boolean {
    const owner = rt.owners.get(id);
    const leaf = owner ? rt.leaves[owner.leaf] : undefined;
    if (!owner || !leaf?.retry) return false;
    if (owner.role === 'retryTimer')
      return event.EventType === EventType.TimerFired && leaf.failures < leaf.retry.maxNumberOfAttempts;
    return (
      event.EventType === EventType.TaskFailed || event.EventType === EventType.SubOrchestrationInstanceFailed
    );
  }

  /** The scheduling row a retry-related completion produces (a retry timer, or the next attempt). */
  private retryStep(rt: Runtime, event: HistoryEvent, now: Date): HistoryRow {
    const owner = rt.owners.get(completedId(event)!)!;
    const leaf = rt.leaves[owner.leaf]!;
    const retry = leaf.retry!;
    const id = rt.nextId++;
    let row: HistoryRow;
    if (owner.role === 'retryTimer') {
      row =
        leaf.kind === 'activity'
          ? {
              event: events.taskScheduled(now, id, leaf.name!, leaf.inputJson),
              leaf: owner.leaf,
              role: 'retryAttempt',
            }
          : {
              event: events.subOrchestrationCreated(
                now,
                id,
                leaf.name!,
                leaf.instanceId ?? `${rt.record.instanceId}:${id}`,
                leaf.inputJson,
              ),
              leaf: owner.leaf,
              role: 'retryAttempt',
            };
    } else {
      leaf.failures += 1;
      leaf.lastFailure = event.FailureDetails as FailureDetails;
      const exhausted = leaf.failures >= retry.maxNumberOfAttempts;
      const timedOut = retryTimedOut(retry, new Date(leaf.firstAttemptAt), now);
      // After the last failure the executor still waits for one timer before giving up; it fires at once.
      const delay = exhausted || timedOut ? 0 : retryDelayMs(retry, leaf.failures);
      row = {
        event: events.timerCreated(now, id, new Date(now.getTime() + delay)),
        leaf: owner.leaf,
        role: 'retryTimer',
      };
    }
    rt.owners.set(id, { leaf: owner.leaf, role: row.role! });
    rt.scheduled.set(id, row.event);
    return row;
  }

  /** The scheduling row of a new decision. */
  private firstStep(rt: Runtime, index: number, leaf: Leaf, now: Date): HistoryRow {
    const id = rt.nextId++;
    const instanceId = rt.record.instanceId;
    let event: HistoryEvent;
    let state: LeafState;
    if (leaf.kind === 'timer') {
      event = events.timerCreated(now, id, new Date(leaf.fireAt));
      state = { kind: 'timer', firstId: id, firstAttemptAt: now.toISOString(), failures: 0 };
    } else {
      const inputJson = jsonText(leaf.input);
      this.checkPayload(instanceId, `the input of ${describeLeaf(leaf)}`, inputJson);
      event =
        leaf.kind === 'activity'
          ? events.taskScheduled(now, id, leaf.name, inputJson)
          : events.subOrchestrationCreated(
              now,
              id,
              leaf.name,
              leaf.instanceId ?? `${instanceId}:${id}`,
              inputJson,
            );
      // Bookkeeping the executor never reads, so retry state survives a restart.
      if (leaf.retry) event._retry = leaf.retry;
      if (leaf.kind === 'subOrchestration' && leaf.instanceId) event._explicitInstanceId = leaf.instanceId;
      state = {
        kind: leaf.kind,
        name: leaf.name,
        ...(inputJson === undefined ? {} : { inputJson }),
        ...(leaf.kind === 'subOrchestration' && leaf.instanceId ? { instanceId: leaf.instanceId } : {}),
        ...(leaf.retry ? { retry: leaf.retry } : {}),
        firstId: id,
        firstAttemptAt: now.toISOString(),
        failures: 0,
      };
    }
    rt.leaves[index] = state;
    rt.owners.set(id, { leaf: index, role: 'first' });
    rt.scheduled.set(id, event);
    return { event, leaf: index, role: 'first' };
  }

  /**
   * Compares the decisions of this replay with those recorded in history, position by position, as DTFx
   * does when it replays TaskScheduled / TimerCreated / SubOrchestrationInstanceCreated events.
   */
  private checkDeterminism(rt: Runtime, decisions: Decisions): void {
    for (const [index, known] of rt.leaves.entries()) {
      const now = decisions.leaves[index];
      const firstId = known.firstId;
      if (!now) {
        throw new NonDeterministicOrchestrationError(
          `A previous execution of orchestration '${rt.record.name}' (instance '${rt.record.instanceId}') scheduled ` +
            `${describeLeaf(known)} with sequence id ${firstId}, but the current replay execution did not schedule it. ` +
            `Orchestrator code must be deterministic (no Date.now(), Math.random(), I/O or changed code for running instances).`,
        );
      }
      const nowName = now.kind === 'timer' ? undefined : now.name;
      if (now.kind !== known.kind || nowName !== known.name) {
        throw new NonDeterministicOrchestrationError(
          `A previous execution of orchestration '${rt.record.name}' (instance '${rt.record.instanceId}') scheduled ` +
            `${describeLeaf(known)} with sequence id ${firstId}, but the current replay execution scheduled ` +
            `${describeLeaf({ kind: now.kind, ...(nowName ? { name: nowName } : {}) })} in its place. ` +
            `Orchestrator code must be deterministic (no Date.now(), Math.random(), I/O or changed code for running instances).`,
        );
      }
    }
  }

  private async invokeOrchestrator(
    rt: Runtime,
    history: HistoryEvent[],
  ): Promise<{ state?: OrchestratorState; failure?: FailureDetails }> {
    const fn = this.host.getFunction(rt.record.name);
    if (fn?.trigger.type !== 'orchestrationTrigger') {
      return {
        failure: {
          ErrorType: 'FunctionNotFound',
          ErrorMessage: `The function '${rt.record.name}' doesn't exist, is disabled, or is not an orchestrator function.`,
        },
      };
    }
    // The binding data the extension sends (lib/src/orchestrations/DurableOrchestrationBindingInfo.js).
    const trigger = {
      history,
      input: rt.record.input === undefined ? undefined : (JSON.parse(rt.record.input) as unknown),
      instanceId: rt.record.instanceId,
      isReplaying: rt.history.length > 0,
      parentInstanceId: rt.record.parentInstanceId,
      upperSchemaVersion: UPPER_SCHEMA_VERSION,
      maximumShortTimerDuration: MAXIMUM_SHORT_TIMER_DURATION,
      longRunningTimerIntervalDuration: LONG_RUNNING_TIMER_INTERVAL,
      defaultHttpAsyncRequestSleepTimeMillseconds: 30_000,
    };
    try {
      const result = await this.host.invoke(rt.record.name, JSON.stringify(trigger));
      const state = result.returnValue as OrchestratorState | undefined;
      if (!state || typeof state !== 'object' || !('isDone' in state)) {
        return {
          failure: {
            ErrorType: 'Error',
            ErrorMessage: `Orchestrator '${rt.record.name}' returned no orchestrator state; is it registered with df.app.orchestration?`,
          },
        };
      }
      return { state };
    } catch (error) {
      const text = error instanceof Error ? error.message : String(error);
      const parsed = parseOrchestratorFailure(text);
      const details: FailureDetails = {
        ErrorType: error instanceof Error ? error.name : 'Error',
        ErrorMessage: parsed.message,
        ...(error instanceof Error && error.stack
          ? { StackTrace: error.stack.replace(text, parsed.message) }
          : {}),
      };
      return parsed.state ? { state: parsed.state, failure: details } : { failure: details };
    }
  }

  // ---------------------------------------------------------------- commits and endings

  private async commit(
    rt: Runtime,
    rows: HistoryRow[],
    consumed: string[],
    status: RuntimeStatus,
  ): Promise<void> {
    const { record } = rt;
    await this.store.appendHistory(record.instanceId, record.executionId, rt.history.length, rows);
    record.historyLength = rt.history.length + rows.length;
    record.runtimeStatus = status;
    record.lastUpdatedTime = this.now().toISOString();
    await this.writeConsumed(record, consumed);
    for (const row of rows) this.absorb(rt, row, false);
    for (const row of rows) row.event.IsPlayed = true;
    await this.consume(record.instanceId, consumed);
  }

  /**
   * Puts the ids of the messages this write consumes into the instance row (the commit point), so that
   * consuming the inbox is idempotent across a host killed between the write and the inbox deletion.
   */
  private async writeConsumed(record: InstanceRecord, consumed: string[]): Promise<void> {
    const ids = new Set([...(this.undeleted.get(record.instanceId) ?? []), ...consumed]);
    if (ids.size) record.consumedMessageIds = [...ids];
    else delete record.consumedMessageIds;
    await this.store.writeInstance(record);
    this.undeleted.set(record.instanceId, ids);
  }

  private async consume(instanceId: string, ids: string[]): Promise<void> {
    const pending = this.undeleted.get(instanceId);
    const all = [...new Set([...(pending ?? []), ...ids])];
    if (!all.length) return;
    const done = new Set(all);
    const list = this.inbox.get(instanceId);
    if (list) {
      const rest = list.filter((m) => !done.has(m.id));
      if (rest.length) this.inbox.set(instanceId, rest);
      else this.inbox.delete(instanceId);
    }
    await this.store.deleteMessages(instanceId, all);
    this.undeleted.delete(instanceId);
  }

  private async finish(
    rt: Runtime,
    status: 'Completed' | 'Failed' | 'Terminated',
    outputJson: string | undefined,
    consumed: string[],
    finalEvents: HistoryEvent[],
    failure?: FailureDetails,
  ): Promise<void> {
    if (outputJson === undefined) delete rt.record.output;
    else rt.record.output = outputJson;
    // Drop bookkeeping fields of scheduling rows already absorbed; new rows carry no leaf (nothing to run).
    await this.commit(
      rt,
      finalEvents.map((event) => ({ event })),
      consumed,
      status,
    );
    this.runtimes.delete(rt.record.instanceId);
    this.live.delete(rt.record.instanceId);
    this.cancelTimers(rt.record.instanceId);
    await this.notifyParent(rt.record, status, outputJson, failure);
  }

  private cancelTimers(instanceId: string): void {
    for (const [key, handle] of this.timers)
      if (key.startsWith(`${instanceId}\n`)) {
        clearTimeout(handle);
        this.timers.delete(key);
      }
  }

  private async notifyParent(
    record: InstanceRecord,
    status: 'Completed' | 'Failed' | 'Terminated',
    outputJson: string | undefined,
    failure?: FailureDetails,
  ): Promise<void> {
    if (record.parentInstanceId === undefined || record.parentTaskId === undefined) return;
    const now = this.now();
    const event =
      status === 'Completed'
        ? events.subOrchestrationCompleted(now, record.parentTaskId, outputJson ?? 'null')
        : events.subOrchestrationFailed(
            now,
            record.parentTaskId,
            failure ?? {
              ErrorType: 'Error',
              ErrorMessage: `Sub-orchestration '${record.instanceId}' ${status.toLowerCase()}`,
            },
          );
    await this.enqueue(
      this.message(record.parentInstanceId, 'event', {
        ...(record.parentExecutionId ? { executionId: record.parentExecutionId } : {}),
        event,
      }),
    );
  }

  /** Starts a fresh execution with the new input; events not yet applied stay in the inbox. */
  private async continueAsNew(rt: Runtime, inputJson: string | undefined, consumed: string[]): Promise<void> {
    const { record } = rt;
    const oldExecutionId = record.executionId;
    record.executionId = randomUUID().replace(/-/g, '');
    record.historyLength = 0;
    record.runtimeStatus = 'Running';
    delete record.output;
    if (inputJson === undefined) delete record.input;
    else record.input = inputJson;
    record.lastUpdatedTime = this.now().toISOString();
    this.runtimes.delete(record.instanceId);
    this.cancelTimers(record.instanceId);
    // Start message first: a host killed in between then finds a Running instance with its start message.
    const startMessage = this.startMessage(record);
    await this.store.putMessage(startMessage);
    await this.writeConsumed(record, consumed);
    this.addToInbox(startMessage);
    this.live.set(record.instanceId, record.executionId);
    await this.consume(record.instanceId, consumed);
    await this.store
      .clearHistory(record.instanceId)
      .catch((error: unknown) =>
        this.log(
          `could not delete history of execution ${oldExecutionId} of '${record.instanceId}': ${String(error)}`,
        ),
      );
    this.dirty.add(record.instanceId);
  }

  // ---------------------------------------------------------------- work

  /** Dispatches newly committed scheduling rows. */
  private dispatch(rt: Runtime, rows: HistoryRow[]): void {
    for (const row of rows) {
      const event = row.event;
      if (event.EventType === EventType.TaskScheduled) this.runActivity(rt, event);
      else if (event.EventType === EventType.TimerCreated) this.armTimer(rt, event);
      else if (event.EventType === EventType.SubOrchestrationInstanceCreated)
        void this.track(this.startChild(rt, event));
    }
  }

  /** After a restart: re-dispatches every open id that has no result waiting in the inbox. */
  private async resumePendingWork(rt: Runtime): Promise<void> {
    const waiting = new Set<number>();
    for (const message of this.inbox.get(rt.record.instanceId) ?? []) {
      const id = message.event ? completedId(message.event) : undefined;
      if (id !== undefined) waiting.add(id);
    }
    for (const [id, event] of rt.scheduled) {
      if (rt.completed.has(id) || waiting.has(id)) continue;
      if (event.EventType === EventType.SubOrchestrationInstanceCreated) {
        const child = await this.store.readInstance(event.InstanceId as string);
        const ours = child?.parentInstanceId === rt.record.instanceId && child.parentTaskId === id;
        if (child && ours && isTerminal(child.runtimeStatus)) {
          await this.notifyParent(
            child,
            child.runtimeStatus === 'Completed' ? 'Completed' : 'Failed',
            child.output,
          );
          continue;
        }
        if (child && ours) continue; // still running by itself
      }
      this.dispatch(rt, [{ event }]);
    }
  }

  private runActivity(rt: Runtime, event: HistoryEvent): void {
    const instanceId = rt.record.instanceId;
    const executionId = rt.record.executionId;
    const taskId = event.EventId;
    const name = event.Name as string;
    const owner = rt.owners.get(taskId);
    const leaf = owner ? rt.leaves[owner.leaf] : undefined;
    const work = this.activities.run(async () => {
      if (this.stopped || this.live.get(instanceId) !== executionId) return; // finished meanwhile
      let result: HistoryEvent;
      const now = () => this.now();
      if (
        leaf?.retry &&
        owner?.role === 'retryAttempt' &&
        retryTimedOut(leaf.retry, new Date(leaf.firstAttemptAt), this.clock())
      ) {
        result = events.taskFailed(now(), taskId, {
          ErrorType: 'RetryTimeoutExceeded',
          ErrorMessage: `Activity '${name}' not retried: retry timeout of ${leaf.retry.retryTimeoutInMilliseconds} ms exceeded. Last error: ${leaf.lastFailure?.ErrorMessage ?? 'unknown'}`,
        });
      } else if (this.host.getFunction(name)?.trigger.type !== 'activityTrigger') {
        result = events.taskFailed(now(), taskId, {
          ErrorType: 'FunctionNotFound',
          ErrorMessage: `The function '${name}' doesn't exist, is disabled, or is not an activity function.`,
        });
      } else {
        try {
          this.stats.activityInvocations += 1;
          const { returnValue } = await this.host.invoke(
            name,
            event.Input === undefined ? 'null' : event.Input,
          );
          const resultJson = JSON.stringify(returnValue ?? null);
          this.checkPayload(instanceId, `the result of activity '${name}'`, resultJson);
          result = events.taskCompleted(now(), taskId, resultJson);
        } catch (error) {
          result = events.taskFailed(now(), taskId, errorDetails(error));
        }
      }
      if (this.stopped) return;
      await this.enqueue(this.message(instanceId, 'event', { executionId, event: result }));
    });
    void this.track(
      work.catch((error: unknown) => this.log(`activity '${name}' of '${instanceId}': ${String(error)}`)),
    );
  }

  private armTimer(rt: Runtime, event: HistoryEvent): void {
    const instanceId = rt.record.instanceId;
    const executionId = rt.record.executionId;
    const key = `${instanceId}\n${executionId}\n${event.EventId}`;
    const fireAt = event.FireAt as string;
    const arm = () => {
      const wait = new Date(fireAt).getTime() - this.clock().getTime();
      const handle = setTimeout(
        () => {
          this.timers.delete(key);
          if (this.stopped) return;
          if (new Date(fireAt).getTime() > this.clock().getTime()) {
            arm();
            return;
          }
          void this.track(
            this.enqueue(
              this.message(instanceId, 'event', {
                executionId,
                event: events.timerFired(this.now(), event.EventId, fireAt),
              }),
            ).catch((error: unknown) => this.log(`timer of '${instanceId}': ${String(error)}`)),
          );
        },
        Math.max(0, Math.min(wait, MAX_TIMEOUT_MS)),
      );
      this.timers.set(key, handle);
    };
    arm();
  }

  private async startChild(rt: Runtime, event: HistoryEvent): Promise<void> {
    const parent = {
      instanceId: rt.record.instanceId,
      taskId: event.EventId,
      executionId: rt.record.executionId,
    };
    const name = event.Name as string;
    const childId = event.InstanceId as string;
    const fail = (message: string) =>
      this.enqueue(
        this.message(parent.instanceId, 'event', {
          executionId: parent.executionId,
          event: events.subOrchestrationFailed(this.now(), parent.taskId, {
            ErrorType: 'Error',
            ErrorMessage: message,
          }),
        }),
      );
    try {
      if (!this.isOrchestrator(name)) {
        await fail(`The function '${name}' doesn't exist, is disabled, or is not an orchestrator function.`);
        return;
      }
      const existing = await this.store.readInstance(childId);
      if (
        existing &&
        existing.parentInstanceId === parent.instanceId &&
        existing.parentTaskId === parent.taskId &&
        existing.parentExecutionId === parent.executionId
      )
        return; // already started (restart recovery)
      await this.startNew(name, childId, event.Input as string | undefined, parent);
    } catch (error) {
      await fail(error instanceof Error ? error.message : String(error));
    }
  }
}

/** Starting an instance whose id is taken by a non-terminal instance (HTTP 409 in the extension). */
export class InstanceExistsError extends Error {
  constructor(instanceId: string, status: RuntimeStatus) {
    super(`An orchestration with instance ID '${instanceId}' already exists and is ${status}.`);
    this.name = 'InstanceExistsError';
  }
}
