/**
 * Dispatching committed scheduling rows: activities (under host.json's concurrency limit), durable timers
 * and sub-orchestrations; and, after a restart, re-dispatching whatever was scheduled but has no result.
 */
import { runActivity } from './activityDispatch';
import type { Endings } from './endings';
import type { EngineCore } from './engineCore';
import { completedId, events, EventType, type HistoryEvent } from './history';
import type { Runtime } from './runtime';
import { type HistoryRow, type InstanceRecord, isTerminal } from './store';

/** The parent of a sub-orchestration, as its instance record keeps it. */
export interface ParentRef {
  instanceId: string;
  taskId: number;
  executionId: string;
}

/** Starts an instance (the engine's `startNew`). */
export type StartInstance = (
  name: string,
  instanceId: string,
  inputJson: string | undefined,
  parent?: ParentRef,
) => Promise<InstanceRecord>;

/** Runs the work an episode scheduled. */
export class WorkDispatcher {
  constructor(
    private readonly core: EngineCore,
    private readonly endings: Endings,
    private readonly startInstance: StartInstance,
  ) {}

  /** Dispatches newly committed scheduling rows. */
  dispatch(rt: Runtime, rows: HistoryRow[]): void {
    for (const row of rows) {
      const event = row.event;
      if (event.EventType === EventType.TaskScheduled) this.runActivity(rt, event);
      else if (event.EventType === EventType.TimerCreated) this.armTimer(rt, event);
      else if (event.EventType === EventType.SubOrchestrationInstanceCreated)
        void this.core.track(this.startChild(rt, event));
    }
  }

  /** After a restart: re-dispatches every open id that has no result waiting in the inbox. */
  async resumePendingWork(rt: Runtime): Promise<void> {
    const waiting = new Set<number>();
    for (const message of this.core.inbox.get(rt.record.instanceId) ?? []) {
      const id = message.event ? completedId(message.event) : undefined;
      if (id !== undefined) waiting.add(id);
    }
    for (const [id, event] of rt.scheduled) {
      if (rt.completed.has(id) || waiting.has(id)) continue;
      if (event.EventType === EventType.SubOrchestrationInstanceCreated) {
        const child = await this.core.store.readInstance(event.InstanceId as string);
        const ours = child?.parentInstanceId === rt.record.instanceId && child.parentTaskId === id;
        if (child && ours && isTerminal(child.runtimeStatus)) {
          await this.endings.notifyParent(
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

  /** Runs an activity under host.json's concurrency limit and enqueues its result. */
  private runActivity(rt: Runtime, event: HistoryEvent): void {
    const { core } = this;
    const instanceId = rt.record.instanceId;
    const executionId = rt.record.executionId;
    const name = event.Name as string;
    const owner = rt.owners.get(event.EventId);
    const leaf = owner ? rt.leaves[owner.leaf] : undefined;
    const work = core.activities.run(async () => {
      if (core.stopped || core.live.get(instanceId) !== executionId) return; // finished meanwhile
      const result = await runActivity(
        {
          host: core.host,
          now: () => core.now(),
          clock: core.clock,
          checkPayload: (id, what, json) => core.checkPayload(id, what, json),
          stats: core.stats,
        },
        { instanceId, event, leaf, role: owner?.role },
      );
      if (core.stopped) return;
      await core.enqueue(core.message(instanceId, 'event', { executionId, event: result }));
    });
    void core.track(
      work.catch((error: unknown) => core.log(`activity '${name}' of '${instanceId}': ${String(error)}`)),
    );
  }

  /** Arms a durable timer that enqueues TimerFired when due. */
  private armTimer(rt: Runtime, event: HistoryEvent): void {
    const { core } = this;
    const instanceId = rt.record.instanceId;
    const executionId = rt.record.executionId;
    const fireAt = event.FireAt as string;
    core.timers.arm(instanceId, executionId, event.EventId, fireAt, () => {
      void core.track(
        core
          .enqueue(
            core.message(instanceId, 'event', {
              executionId,
              event: events.timerFired(core.now(), event.EventId, fireAt),
            }),
          )
          .catch((error: unknown) => core.log(`timer of '${instanceId}': ${String(error)}`)),
      );
    });
  }

  /** Starts a sub-orchestration (once: a restart finds it started), or fails the parent's task. */
  private async startChild(rt: Runtime, event: HistoryEvent): Promise<void> {
    const { core } = this;
    const parent: ParentRef = {
      instanceId: rt.record.instanceId,
      taskId: event.EventId,
      executionId: rt.record.executionId,
    };
    const name = event.Name as string;
    const childId = event.InstanceId as string;
    const fail = (message: string) =>
      core.enqueue(
        core.message(parent.instanceId, 'event', {
          executionId: parent.executionId,
          event: events.subOrchestrationFailed(core.now(), parent.taskId, {
            ErrorType: 'Error',
            ErrorMessage: message,
          }),
        }),
      );
    try {
      if (core.host.getFunction(name)?.trigger.type !== 'orchestrationTrigger') {
        await fail(`The function '${name}' doesn't exist, is disabled, or is not an orchestrator function.`);
        return;
      }
      const existing = await core.store.readInstance(childId);
      if (
        existing &&
        existing.parentInstanceId === parent.instanceId &&
        existing.parentTaskId === parent.taskId &&
        existing.parentExecutionId === parent.executionId
      )
        return; // already started (restart recovery)
      await this.startInstance(name, childId, event.Input as string | undefined, parent);
    } catch (error) {
      await fail(error instanceof Error ? error.message : String(error));
    }
  }
}
