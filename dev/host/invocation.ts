/**
 * One invocation, following the Node.js worker's steps: `getInvocationModel` → `getArguments` →
 * preInvocation hooks → `invokeFunction` → postInvocation hooks → `getResponse`, with the "Executing" /
 * "Executed" log lines the real host writes.
 */
import { randomUUID } from 'node:crypto';
import { inspect } from 'node:util';

import { getRegisteredProgrammingModel } from './coreModule';
import type {
  CoreInvocationContext,
  FunctionCallback,
  InvocationModel,
  InvocationState,
  RpcInvocationResponse,
  RpcParameterBinding,
  RpcTypedData,
} from './coreTypes';
import type { HostLogger } from './logger';
import { type FunctionEntry, type FunctionRegistry, hookContext } from './registry';

/** Raw invocation input, for the HTTP server and other triggers that build typed data themselves. */
export interface RawInvocation {
  inputData: RpcParameterBinding[];
  triggerMetadata?: Record<string, RpcTypedData>;
  invocationId?: string;
  /** Why the function runs, for the "Executing" log line (e.g. "This function was programmatically called"). */
  reason?: string;
}

/** What an invocation needs from the host. */
export interface InvocationDeps {
  registry: FunctionRegistry;
  appDir: string;
  logger: HostLogger;
  /** Shared by every invocation's hooks (the worker's `appHookData`). */
  appHookData: Record<string, unknown>;
}

/** Runs one invocation from already-typed inputs and returns the worker's response. */
export async function invokeRaw(
  deps: InvocationDeps,
  name: string,
  invocation: RawInvocation,
): Promise<RpcInvocationResponse> {
  const entry = deps.registry.getEntry(name);
  const programmingModel = getRegisteredProgrammingModel();
  if (!programmingModel) throw new Error('No programming model is registered.');
  const invocationId = invocation.invocationId ?? randomUUID();
  const started = Date.now();
  const log = (level: Parameters<HostLogger>[0]['level'], message: string) =>
    deps.logger({ level, category: 'host', functionName: name, invocationId, message });
  log(
    'information',
    `Executing 'Functions.${name}' (Reason='${invocation.reason ?? 'This function was programmatically called via the host APIs.'}', Id=${invocationId})`,
  );
  const coreCtx = coreInvocationContext(deps, entry, name, invocationId, invocation);
  try {
    const invocationModel = await programmingModel.getInvocationModel(coreCtx);
    const response = await runSteps(deps, coreCtx, invocationModel, entry, name, invocationId);
    log(
      'information',
      `Executed 'Functions.${name}' (Succeeded, Id=${invocationId}, Duration=${Date.now() - started}ms)`,
    );
    return response;
  } catch (err) {
    const error = err instanceof Error ? err : new Error(String(err));
    log(
      'error',
      `Executed 'Functions.${name}' (Failed, Id=${invocationId}, Duration=${Date.now() - started}ms)\n${error.stack ?? error.message}`,
    );
    throw err;
  }
}

/** The invocation context the worker hands the programming model. */
function coreInvocationContext(
  deps: InvocationDeps,
  entry: FunctionEntry,
  name: string,
  invocationId: string,
  invocation: RawInvocation,
): CoreInvocationContext {
  return {
    invocationId,
    request: {
      invocationId,
      functionId: entry.metadata.functionId ?? name,
      inputData: invocation.inputData,
      triggerMetadata: invocation.triggerMetadata ?? {},
      traceContext: { traceParent: null, traceState: null, attributes: {} },
      retryContext: null,
    },
    metadata: {
      name,
      functionId: entry.metadata.functionId ?? name,
      directory: deps.appDir,
      scriptFile: 'n/a',
      bindings: entry.metadata.bindings,
      rawBindings: Object.entries(entry.metadata.bindings).map(([n, b]) => JSON.stringify({ ...b, name: n })),
      retryOptions: entry.metadata.retryOptions ?? null,
    },
    state: undefined as InvocationState | undefined,
    log(level, category, message) {
      deps.logger({ level, category, functionName: name, invocationId, message });
    },
  };
}

/** Arguments, hooks, the function itself and its response, each stage marked in the context's state. */
async function runSteps(
  deps: InvocationDeps,
  coreCtx: CoreInvocationContext,
  invocationModel: InvocationModel,
  entry: FunctionEntry,
  name: string,
  invocationId: string,
): Promise<RpcInvocationResponse> {
  const { registry, appHookData } = deps;
  // The worker marks which stage an invocation is in (the library warns about logs after it is done).
  const inState = async (state: InvocationState, run: () => Promise<void>): Promise<void> => {
    coreCtx.state = state;
    try {
      await run();
    } finally {
      coreCtx.state = undefined;
    }
  };
  const hookData: Record<string, unknown> = {};
  const args = await invocationModel.getArguments();
  const { context } = args;
  let { inputs } = args;
  let callback = entry.callback;

  const preContext = hookContext(hookData, appHookData, { invocationContext: context });
  preContext.inputs = inputs;
  preContext.functionCallback = callback;
  await inState('preInvocationHooks', () =>
    registry.runHooks('preInvocation', preContext, name, invocationId),
  );
  inputs = preContext.inputs as unknown[];
  callback = preContext.functionCallback as FunctionCallback;

  const postContext = hookContext(hookData, appHookData, { invocationContext: context });
  postContext.inputs = inputs;
  postContext.result = null;
  postContext.error = null;
  await inState('invocation', async () => {
    try {
      postContext.result = await invocationModel.invokeFunction(context, inputs, callback);
    } catch (err) {
      postContext.error = err;
    }
  });
  await inState('postInvocationHooks', () =>
    registry.runHooks('postInvocation', postContext, name, invocationId),
  );
  // Like the worker, rethrow what the handler threw (the library's errors are Error instances).
  if (postContext.error !== null && postContext.error !== undefined) {
    throw postContext.error instanceof Error ? postContext.error : new Error(inspect(postContext.error));
  }
  return invocationModel.getResponse(context, postContext.result);
}
