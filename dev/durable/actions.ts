/**
 * Reading what the `durable-functions` replay executor returns (`OrchestratorState`, lib/src/orchestrations/
 * OrchestratorState.js): `{ isDone, actions, output, error?, customStatus?, schemaVersion }`. With replay
 * schema V3 `actions` is `[[...]]` holding a tree (WhenAll/WhenAny carry `compoundActions`); with V1 it is a
 * list of lists. Either way the executor returns every action scheduled since the start of the execution,
 * in scheduling order, so the depth-first leaves are the orchestrator's "decisions" in sequence-id order.
 */
import { UnsupportedDurableFeatureError } from './errors';

/** `ActionType` of durable-functions v3 (lib/src/actions/ActionType.js). */
export const ActionType = {
  CallActivity: 0,
  CallActivityWithRetry: 1,
  CallSubOrchestrator: 2,
  CallSubOrchestratorWithRetry: 3,
  ContinueAsNew: 4,
  CreateTimer: 5,
  WaitForExternalEvent: 6,
  CallEntity: 7,
  CallHttp: 8,
  SignalEntity: 9,
  WhenAny: 11,
  WhenAll: 12,
  LockEntities: 13,
  ReleaseEntities: 14,
} as const;

/** `RetryOptions` as it travels (lib/src/RetryOptions.js; optional fields absent unless set). */
export interface RetryOptionsWire {
  firstRetryIntervalInMilliseconds: number;
  maxNumberOfAttempts: number;
  backoffCoefficient?: number;
  maxRetryIntervalInMilliseconds?: number;
  retryTimeoutInMilliseconds?: number;
}

/** One action that takes a sequence id (an activity, a timer or a sub-orchestration). */
export type Leaf =
  | { kind: 'activity'; name: string; input: unknown; retry?: RetryOptionsWire }
  | { kind: 'subOrchestration'; name: string; input: unknown; instanceId?: string; retry?: RetryOptionsWire }
  | { kind: 'timer'; fireAt: string; isCanceled: boolean };

/** The orchestrator's decisions, flattened. */
export interface Decisions {
  leaves: Leaf[];
  /** Present when the orchestrator called `continueAsNew`. */
  continueAsNew?: { input: unknown };
}

/** The executor's result as it comes back from the worker. */
export interface OrchestratorState {
  isDone: boolean;
  actions: unknown;
  output?: unknown;
  error?: string;
  customStatus?: unknown;
  schemaVersion?: number;
}

const OUT_OF_PROC_LABEL = '\n\n$OutOfProcData$:';

/**
 * Splits an orchestrator failure into its message and the executor state the library appended to it
 * (lib/src/error/OrchestrationFailureError.js: `${message}\n\n$OutOfProcData$:${JSON.stringify(state)}`).
 */
export function parseOrchestratorFailure(message: string): { message: string; state?: OrchestratorState } {
  const at = message.indexOf(OUT_OF_PROC_LABEL);
  if (at < 0) return { message };
  try {
    return {
      message: message.slice(0, at),
      state: JSON.parse(message.slice(at + OUT_OF_PROC_LABEL.length)) as OrchestratorState,
    };
  } catch {
    return { message: message.slice(0, at) };
  }
}

/**
 * Undoes `Utils.processInput` (lib/src/util/Utils.js), which JSON-encodes string inputs of activities and
 * continue-as-new so that the extension's "parse string inputs as JSON" step gives the original string back.
 */
export function fromProcessedInput(input: unknown): unknown {
  if (typeof input !== 'string') return input;
  try {
    return JSON.parse(input) as unknown;
  } catch {
    return input;
  }
}

interface RawAction {
  actionType?: number;
  functionName?: string;
  input?: unknown;
  retryOptions?: RetryOptionsWire;
  instanceId?: string;
  fireAt?: string;
  isCanceled?: boolean;
  compoundActions?: unknown[];
}

/** Flattens the executor's actions (V1 lists or V3 trees) into id-taking leaves, in sequence-id order. */
export function flattenActions(actions: unknown): Decisions {
  const decisions: Decisions = { leaves: [] };
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) {
      for (const child of node) visit(child);
      return;
    }
    if (node === null || typeof node !== 'object') return;
    const action = node as RawAction;
    switch (action.actionType) {
      case ActionType.CallActivity:
        decisions.leaves.push({
          kind: 'activity',
          name: String(action.functionName),
          input: fromProcessedInput(action.input),
        });
        return;
      case ActionType.CallActivityWithRetry:
        decisions.leaves.push({
          kind: 'activity',
          name: String(action.functionName),
          input: fromProcessedInput(action.input),
          retry: action.retryOptions!,
        });
        return;
      case ActionType.CallSubOrchestrator:
      case ActionType.CallSubOrchestratorWithRetry:
        decisions.leaves.push({
          kind: 'subOrchestration',
          name: String(action.functionName),
          input: action.input,
          ...(action.instanceId ? { instanceId: action.instanceId } : {}),
          ...(action.actionType === ActionType.CallSubOrchestratorWithRetry
            ? { retry: action.retryOptions! }
            : {}),
        });
        return;
      case ActionType.CreateTimer:
        decisions.leaves.push({
          kind: 'timer',
          fireAt: String(action.fireAt),
          isCanceled: action.isCanceled === true,
        });
        return;
      case ActionType.WaitForExternalEvent:
        // Waits take no sequence id: the executor matches EventRaised events by name.
        return;
      case ActionType.ContinueAsNew:
        decisions.continueAsNew = { input: fromProcessedInput(action.input) };
        return;
      case ActionType.WhenAll:
      case ActionType.WhenAny:
        for (const child of action.compoundActions ?? []) visit(child);
        return;
      case ActionType.CallEntity:
      case ActionType.SignalEntity:
      case ActionType.LockEntities:
      case ActionType.ReleaseEntities:
        throw new UnsupportedDurableFeatureError('Durable entities (callEntity/signalEntity/lock)');
      case ActionType.CallHttp:
        throw new UnsupportedDurableFeatureError('Durable HTTP (context.df.callHttp)');
      default:
        throw new UnsupportedDurableFeatureError(`Orchestrator action type ${String(action.actionType)}`);
    }
  };
  visit(actions);
  return decisions;
}

/** A short description of a leaf for error messages and nondeterminism checks. */
export function describeLeaf(leaf: { kind: string; name?: string }): string {
  return leaf.kind === 'timer'
    ? 'a durable timer'
    : `${leaf.kind === 'activity' ? 'activity' : 'sub-orchestration'} '${leaf.name}'`;
}
