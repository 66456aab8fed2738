/**
 * Running one scheduled activity: through the host like any function, or not at all when its retry
 * timeout has passed or no such activity is registered; the answer is the completion event to enqueue.
 */
import type { FunctionHost } from '../host/types';
import { errorDetails } from './failureDetails';
import { events, type HistoryEvent } from './history';
import { retryTimedOut } from './retry';
import type { LeafState } from './runtime';
import type { PayloadCheck } from './scheduling';
import type { HistoryRole } from './store';

/** What running an activity needs from the engine. */
export interface ActivityDeps {
  host: FunctionHost;
  /** The engine's strictly increasing now, for event timestamps. */
  now: () => Date;
  /** The plain clock, for the retry timeout. */
  clock: () => Date;
  checkPayload: PayloadCheck;
  stats: { activityInvocations: number };
}

/** One TaskScheduled event to run, with the decision (leaf) and role it belongs to. */
export interface ActivityRequest {
  instanceId: string;
  event: HistoryEvent;
  leaf: LeafState | undefined;
  role: HistoryRole | undefined;
}

/** Runs the activity and returns its TaskCompleted or TaskFailed event (never throws for the activity's errors). */
export async function runActivity(deps: ActivityDeps, request: ActivityRequest): Promise<HistoryEvent> {
  const { instanceId, event, leaf, role } = request;
  const taskId = event.EventId;
  const name = event.Name as string;
  const now = () => deps.now();
  if (
    leaf?.retry &&
    role === 'retryAttempt' &&
    retryTimedOut(leaf.retry, new Date(leaf.firstAttemptAt), deps.clock())
  ) {
    return events.taskFailed(now(), taskId, {
      ErrorType: 'RetryTimeoutExceeded',
      ErrorMessage: `Activity '${name}' not retried: retry timeout of ${leaf.retry.retryTimeoutInMilliseconds} ms exceeded. Last error: ${leaf.lastFailure?.ErrorMessage ?? 'unknown'}`,
    });
  }
  if (deps.host.getFunction(name)?.trigger.type !== 'activityTrigger') {
    return events.taskFailed(now(), taskId, {
      ErrorType: 'FunctionNotFound',
      ErrorMessage: `The function '${name}' doesn't exist, is disabled, or is not an activity function.`,
    });
  }
  try {
    deps.stats.activityInvocations += 1;
    const { returnValue } = await deps.host.invoke(name, event.Input === undefined ? 'null' : event.Input);
    const resultJson = JSON.stringify(returnValue ?? null);
    deps.checkPayload(instanceId, `the result of activity '${name}'`, resultJson);
    return events.taskCompleted(now(), taskId, resultJson);
  } catch (error) {
    return events.taskFailed(now(), taskId, errorDetails(error));
  }
}
