/**
 * How an execution ends: completed, failed or terminated (the final rows committed, its timers cancelled,
 * a parent orchestration told), or continued as new (a fresh execution with the new input).
 */
import { randomUUID } from 'node:crypto';

import type { EngineCore } from './engineCore';
import { events, type FailureDetails, type HistoryEvent } from './history';
import type { Runtime } from './runtime';
import type { InstanceRecord } from './store';

/** The terminal statuses an execution ends in. */
export type Ending = 'Completed' | 'Failed' | 'Terminated';

/** A fresh execution id, as the extension writes them (a GUID without dashes). */
export function newExecutionId(): string {
  return randomUUID().replace(/-/g, '');
}

/** Ends executions on the engine's shared state. */
export class Endings {
  constructor(private readonly core: EngineCore) {}

  /** Commits the final events, forgets the instance's runtime and timers, and tells its parent. */
  async finish(
    rt: Runtime,
    status: Ending,
    outputJson: string | undefined,
    consumed: string[],
    finalEvents: HistoryEvent[],
    failure?: FailureDetails,
  ): Promise<void> {
    const { core } = this;
    if (outputJson === undefined) delete rt.record.output;
    else rt.record.output = outputJson;
    // Drop bookkeeping fields of scheduling rows already absorbed; new rows carry no leaf (nothing to run).
    await core.persistence.commit(
      rt,
      finalEvents.map((event) => ({ event })),
      consumed,
      status,
    );
    core.runtimes.delete(rt.record.instanceId);
    core.live.delete(rt.record.instanceId);
    core.timers.cancel(rt.record.instanceId);
    await this.notifyParent(rt.record, status, outputJson, failure);
  }

  /** Enqueues SubOrchestrationInstanceCompleted/Failed for the parent, when the instance has one. */
  async notifyParent(
    record: InstanceRecord,
    status: Ending,
    outputJson: string | undefined,
    failure?: FailureDetails,
  ): Promise<void> {
    if (record.parentInstanceId === undefined || record.parentTaskId === undefined) return;
    const { core } = this;
    const now = core.now();
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
    await core.enqueue(
      core.message(record.parentInstanceId, 'event', {
        ...(record.parentExecutionId ? { executionId: record.parentExecutionId } : {}),
        event,
      }),
    );
  }

  /** Starts a fresh execution with the new input; events not yet applied stay in the inbox. */
  async continueAsNew(rt: Runtime, inputJson: string | undefined, consumed: string[]): Promise<void> {
    const { core } = this;
    const { record } = rt;
    const oldExecutionId = record.executionId;
    record.executionId = newExecutionId();
    record.historyLength = 0;
    record.runtimeStatus = 'Running';
    delete record.output;
    if (inputJson === undefined) delete record.input;
    else record.input = inputJson;
    record.lastUpdatedTime = core.now().toISOString();
    core.runtimes.delete(record.instanceId);
    core.timers.cancel(record.instanceId);
    // Start message first: a host killed in between then finds a Running instance with its start message.
    const startMessage = core.startMessage(record);
    await core.store.putMessage(startMessage);
    await core.persistence.writeConsumed(record, consumed);
    core.inbox.add(startMessage);
    core.live.set(record.instanceId, record.executionId);
    await core.persistence.consume(record.instanceId, consumed);
    await core.store
      .clearHistory(record.instanceId)
      .catch((error: unknown) =>
        core.log(
          `could not delete history of execution ${oldExecutionId} of '${record.instanceId}': ${String(error)}`,
        ),
      );
    core.dirty.add(record.instanceId);
  }
}
