/**
 * The orchestration engine: plays the part of the Durable extension + DTFx for the local host. This file
 * is its face (lifecycle and the client operations the HTTP API calls); the concepts it coordinates each
 * have their own file:
 *  - shared state: `engineCore.ts`;
 *  - history replay: `episode.ts` (one episode), `episodeBatch.ts` (its messages), `runtime.ts` (what is
 *    known of an instance), `orchestratorInvocation.ts` (one replay through the real `durable-functions`
 *    executor), `scheduling.ts` (the sequence ids the executor expects), `determinism.ts`;
 *  - endings: `endings.ts` (completed, failed, terminated, continued as new);
 *  - work: `workDispatch.ts`, `activityDispatch.ts`, `timers.ts`, bounded by host.json (`semaphore.ts`);
 *  - persistence: `inbox.ts` (messages in), `persistence.ts` (the commit order), `store.ts` (Azurite).
 *
 * Every step ("episode") replays the orchestrator from the start of its history, exactly as the extension
 * does. Messages (start, activity results, timers, events, control) land in a persisted inbox first; an
 * episode consumes a batch, appends the history rows and only then dispatches new work, so a killed host
 * resumes from storage: scheduled-but-unfinished activities are re-run (at least once, as in Azure),
 * finished ones (their result is in the inbox or history) are not.
 */
import type { FunctionHost } from '../host/types';
import { Endings, newExecutionId } from './endings';
import { EngineCore } from './engineCore';
import { EpisodeRunner } from './episode';
import { events, type HistoryEvent } from './history';
import {
  type DurableStore,
  type InboxMessage,
  type InstanceRecord,
  InstanceWriteConflictError,
  isTerminal,
  type RuntimeStatus,
} from './store';
import { type ParentRef, WorkDispatcher } from './workDispatch';

export { UPPER_SCHEMA_VERSION } from './orchestratorInvocation';

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

/** A status snapshot for the HTTP API. */
export interface InstanceSnapshot {
  record: InstanceRecord;
  history?: HistoryEvent[];
}

/** The orchestration engine; one per task hub. */
export class DurableEngine {
  private readonly core: EngineCore;
  private readonly work: WorkDispatcher;
  private readonly episodes: EpisodeRunner;
  private readonly busy = new Set<string>();

  /** Counts for tests and diagnostics. */
  readonly stats: EngineCore['stats'];

  constructor(options: EngineOptions) {
    this.core = new EngineCore({
      host: options.host,
      store: options.store,
      maxConcurrentActivities: options.maxConcurrentActivities,
      maxConcurrentOrchestrations: options.maxConcurrentOrchestrations,
      maxPayloadBytes: options.maxPayloadBytes,
      clock: options.clock ?? (() => new Date()),
      log: options.log ?? ((message) => process.stderr.write(`[durable] ${message}\n`)),
    });
    this.core.wake = (instanceId) => this.wake(instanceId);
    this.stats = this.core.stats;
    const endings = new Endings(this.core);
    this.work = new WorkDispatcher(this.core, endings, (name, instanceId, inputJson, parent) =>
      this.startNew(name, instanceId, inputJson, parent),
    );
    this.episodes = new EpisodeRunner(this.core, endings, this.work);
  }

  /** Loads the inbox and resumes every unfinished instance and its pending work. */
  async start(): Promise<void> {
    const { core } = this;
    await core.store.init();
    for (const message of await core.store.listMessages()) core.inbox.add(message);
    const instances = await core.store.listInstances();
    for (const record of instances) {
      // Messages the last commit consumed but a killed host did not delete: their effect is already in
      // the committed state, applying them again would deliver them twice (e.g. an EventRaised).
      const queued = new Set((core.inbox.get(record.instanceId) ?? []).map((m) => m.id));
      const leftovers = (record.consumedMessageIds ?? []).filter((id) => queued.has(id));
      if (leftovers.length) await core.persistence.consume(record.instanceId, leftovers);
      if (isTerminal(record.runtimeStatus)) continue;
      const pending = core.inbox.get(record.instanceId) ?? [];
      if (
        record.runtimeStatus === 'Pending' &&
        record.historyLength === 0 &&
        !pending.some((m) => m.kind === 'start')
      ) {
        // Killed between writing the instance and its start message: start it now.
        await core.enqueue(core.startMessage(record));
        continue;
      }
      const rt = await core.load(record.instanceId);
      if (rt) await this.work.resumePendingWork(rt);
    }
    for (const instanceId of core.inbox.instanceIds()) this.wake(instanceId);
  }

  /** Stops timers and waits for running episodes; activities still running finish unobserved. */
  async stop(): Promise<void> {
    this.core.stopped = true;
    this.core.timers.stop();
    await Promise.allSettled([...this.core.inFlight]);
  }

  /** Resolves when no episode or activity is running and no message waits (tests). */
  async idle(): Promise<void> {
    const { core } = this;
    while (
      core.inFlight.size > 0 ||
      [...core.inbox.allLists()].some((l) => l.length > 0 && !this.isParked(l))
    ) {
      await Promise.allSettled([...core.inFlight]);
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  /** Polls until the instance is terminal (tests, CLI); rejects after `timeoutMs`. */
  async waitForCompletion(instanceId: string, timeoutMs = 30_000): Promise<InstanceRecord> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const record = await this.core.store.readInstance(instanceId);
      if (record && isTerminal(record.runtimeStatus)) return record;
      if (Date.now() > deadline)
        throw new Error(
          `Instance '${instanceId}' is still ${record?.runtimeStatus ?? 'missing'} after ${timeoutMs} ms.`,
        );
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  /** True when the messages wait for a suspended instance to be resumed (or terminated). */
  private isParked(messages: InboxMessage[]): boolean {
    const first = messages[0];
    if (!first) return true;
    const rt = this.core.runtimes.get(first.instanceId);
    return (
      rt?.record.runtimeStatus === 'Suspended' &&
      messages.every((m) => m.kind !== 'resume' && m.kind !== 'terminate')
    );
  }

  /** Schedules an episode for the instance (one at a time per instance). */
  private wake(instanceId: string): void {
    const { core } = this;
    if (core.stopped) return;
    if (this.busy.has(instanceId)) {
      core.dirty.add(instanceId);
      return;
    }
    this.busy.add(instanceId);
    void core.track(
      core.orchestrations
        .run(async () => {
          do {
            core.dirty.delete(instanceId);
            await this.episodes.run(instanceId);
          } while (core.dirty.has(instanceId) && !core.stopped);
        })
        .catch((error: unknown) => {
          // The in-memory state may be ahead of storage now: reload it on the next episode.
          core.runtimes.delete(instanceId);
          core.log(`episode of '${instanceId}' failed: ${(error as Error).stack ?? String(error)}`);
        })
        .finally(() => this.busy.delete(instanceId)),
    );
  }

  // ---------------------------------------------------------------- client operations (HTTP API)

  /** Checks a JSON payload against the size limit. */
  checkPayload(instanceId: string, what: string, json: string | undefined): void {
    this.core.checkPayload(instanceId, what, json);
  }

  /** True when `name` is a registered orchestrator function. */
  isOrchestrator(name: string): boolean {
    return this.core.host.getFunction(name)?.trigger.type === 'orchestrationTrigger';
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
    parent?: ParentRef,
  ): Promise<InstanceRecord> {
    const { core } = this;
    this.checkPayload(instanceId, 'the orchestration input', inputJson);
    // A lost conditional write re-reads: the winner's row answers InstanceExistsError; a row purged in
    // between lets this start try again (bounded: each lap needs another writer to win meanwhile).
    for (let attempt = 1; ; attempt++) {
      const existing = await core.store.readInstanceVersion(instanceId);
      if (existing && !isTerminal(existing.record.runtimeStatus))
        throw new InstanceExistsError(instanceId, existing.record.runtimeStatus);
      const record = newInstanceRecord(name, instanceId, inputJson, parent, core.now().toISOString());
      try {
        await core.store.writeInstance(record, existing ? { ifMatch: existing.etag } : { ifAbsent: true });
      } catch (error) {
        if (!(error instanceof InstanceWriteConflictError)) throw error;
        if (attempt >= 5) throw new InstanceExistsError(instanceId, 'Pending');
        continue;
      }
      if (existing) {
        // Only the winner clears what the terminal instance left (history, inbox, its blobs).
        this.forget(instanceId);
        await core.store.clearInstanceData(instanceId, record.executionId);
      }
      core.live.set(instanceId, record.executionId);
      await core.enqueue(core.startMessage(record));
      return record;
    }
  }

  /** Reads an instance's status (and, when asked, the history of its current execution). */
  async getStatus(instanceId: string, withHistory: boolean): Promise<InstanceSnapshot | undefined> {
    const record = await this.core.store.readInstance(instanceId);
    if (!record) return undefined;
    if (!withHistory) return { record };
    const rows = await this.core.store.readHistory(instanceId, record.executionId, record.historyLength);
    return { record, history: rows.map((r) => r.event) };
  }

  /** Every instance record (the list API filters and pages). */
  listInstances(): Promise<InstanceRecord[]> {
    return this.core.store.listInstances();
  }

  /** Queues an external event; events for a not-yet-started instance wait in its inbox. */
  async raiseEvent(instanceId: string, eventName: string, dataJson: string | undefined): Promise<void> {
    const { core } = this;
    this.checkPayload(instanceId, `the data of event '${eventName}'`, dataJson);
    await core.enqueue(
      core.message(instanceId, 'event', { event: events.eventRaised(core.now(), eventName, dataJson) }),
    );
  }

  /** Queues a terminate / suspend / resume request. */
  async control(
    instanceId: string,
    kind: 'terminate' | 'suspend' | 'resume',
    reason: string | undefined,
  ): Promise<void> {
    await this.core.enqueue(this.core.message(instanceId, kind, reason === undefined ? {} : { reason }));
  }

  /** Deletes an instance and everything stored for it. */
  async purge(instanceId: string): Promise<void> {
    this.forget(instanceId);
    await this.core.store.deleteInstance(instanceId);
  }

  /** Drops what the engine holds in memory for an instance (runtime, inbox, timers). */
  private forget(instanceId: string): void {
    const { core } = this;
    core.persistence.forget(instanceId);
    core.runtimes.delete(instanceId);
    core.live.delete(instanceId);
    core.inbox.drop(instanceId);
    core.timers.cancel(instanceId);
  }
}

/** The record of a new, pending instance. */
function newInstanceRecord(
  name: string,
  instanceId: string,
  inputJson: string | undefined,
  parent: ParentRef | undefined,
  now: string,
): InstanceRecord {
  return {
    instanceId,
    name,
    executionId: newExecutionId(),
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
}

/** Starting an instance whose id is taken by a non-terminal instance (HTTP 409 in the extension). */
export class InstanceExistsError extends Error {
  constructor(instanceId: string, status: RuntimeStatus) {
    super(`An orchestration with instance ID '${instanceId}' already exists and is ${status}.`);
    this.name = 'InstanceExistsError';
  }
}
