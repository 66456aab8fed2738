/**
 * The scheduling rows an episode appends, with the sequence ids the `durable-functions` executor will
 * expect on its next replay (lib/src/orchestrations/TaskOrchestrationExecutor.js):
 *  - each new id-taking action (activity, timer, sub-orchestration) takes the next id, depth first;
 *  - a retried task takes one id for the timer after each failure and one for each new attempt
 *    (lib/src/task/RetryableTask.js), assigned while the executor processes the failure/timer event —
 *    before the generator resumes. So an episode puts those id-assigning events first, and the ids they
 *    take come before the ids of the actions the episode's generator yields.
 */
import { describeLeaf, type Leaf } from './actions';
import { jsonText } from './failureDetails';
import { completedId, events, EventType, type FailureDetails, type HistoryEvent } from './history';
import { retryDelayMs, retryTimedOut } from './retry';
import type { LeafState, Runtime } from './runtime';
import type { HistoryRow } from './store';

/** Checks a JSON payload against the engine's size limit (throws `PayloadTooLargeError`). */
export type PayloadCheck = (instanceId: string, what: string, json: string | undefined) => void;

/** True when processing this completion makes the executor take a new id (retry timer or attempt). */
export function assignsRetryId(rt: Runtime, id: number, event: HistoryEvent): boolean {
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
export function retryStep(rt: Runtime, event: HistoryEvent, now: Date): HistoryRow {
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
export function firstStep(
  rt: Runtime,
  index: number,
  leaf: Leaf,
  now: Date,
  checkPayload: PayloadCheck,
): HistoryRow {
  const id = rt.nextId++;
  const instanceId = rt.record.instanceId;
  let event: HistoryEvent;
  let state: LeafState;
  if (leaf.kind === 'timer') {
    event = events.timerCreated(now, id, new Date(leaf.fireAt));
    state = { kind: 'timer', firstId: id, firstAttemptAt: now.toISOString(), failures: 0 };
  } else {
    const inputJson = jsonText(leaf.input);
    checkPayload(instanceId, `the input of ${describeLeaf(leaf)}`, inputJson);
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
