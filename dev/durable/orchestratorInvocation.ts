/**
 * One replay of an orchestrator: the binding data the extension sends (the whole history so far), given to
 * the real `durable-functions` executor through the host like any function, and what it answers.
 */
import type { FunctionHost } from '../host/types';
import { type OrchestratorState, parseOrchestratorFailure } from './actions';
import type { FailureDetails, HistoryEvent } from './history';
import type { Runtime } from './runtime';

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

/** What a replay produced: the executor's state (its actions), a failure, or both (a throwing generator). */
export interface ReplayResult {
  state?: OrchestratorState;
  failure?: FailureDetails;
}

/** Replays the instance's orchestrator over `history` and returns its state or its failure. */
export async function invokeOrchestrator(
  host: FunctionHost,
  rt: Runtime,
  history: HistoryEvent[],
): Promise<ReplayResult> {
  const fn = host.getFunction(rt.record.name);
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
    const result = await host.invoke(rt.record.name, JSON.stringify(trigger));
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
