/**
 * The host core: loads a v4 app through the `@azure/functions-core` shim and invokes its functions exactly as
 * the Node.js worker does (Azure/azure-functions-nodejs-worker `src/eventHandlers/InvocationHandler.ts`):
 * programming model → `getInvocationModel(coreCtx)` → `getArguments()` → preInvocation hooks →
 * `invokeFunction()` → postInvocation hooks → `getResponse()`.
 *
 * Usage (the Durable backend and tests):
 *   const host = await createFunctionHost({ appDir: 'test/fixtures/host-app/basic' });
 *   host.registerInputProvider('durableClient', (fn, name, binding) => ({ taskHubName: 'Hub', ... }));
 *   const { returnValue, outputs } = await host.invoke('myActivity', JSON.stringify({ n: 1 }));
 *   await host.dispose();
 * Trigger values and extra inputs: strings travel as `string` typed data (the library JSON-parses them when
 * it can, as in Azure), Buffers as bytes, everything else as JSON text. Results come back as plain values.
 */
import { randomUUID } from 'node:crypto';
import Module from 'node:module';
import path from 'node:path';
import { inspect } from 'node:util';

import {
  type LocalSettings,
  mergeSettingsIntoEnv,
  readHostJson,
  readLocalSettings,
  resolveEntryPoints,
  resolveSettingReferences,
  resolveSettingReferencesDeep,
} from './appFiles';
import {
  type CoreRegistrar,
  Disposable,
  getActiveRegistrar,
  getRegisteredProgrammingModel,
  installCoreModule,
  setActiveRegistrar,
} from './coreModule';
import type {
  CoreFunctionMetadata,
  CoreInvocationContext,
  FunctionCallback,
  HookCallback,
  InvocationState,
  RpcHttpData,
  RpcInvocationResponse,
  RpcParameterBinding,
  RpcTypedData,
} from './coreTypes';
import { createConsoleLogger, type HostLogger } from './logger';
import { fromWorkerTypedData, toHostTriggerMetadata, toHostTypedData } from './typedData';
import type {
  BindingInfo,
  FunctionHost,
  InputProvider,
  InvokeOptions,
  InvokeResult,
  RegisteredFunction,
} from './types';

/** Trigger types the local host drives. Anything else fails at start-up, naming the function. */
export const SUPPORTED_TRIGGER_TYPES = [
  'httpTrigger',
  'timerTrigger',
  'blobTrigger',
  'orchestrationTrigger',
  'activityTrigger',
  'entityTrigger',
] as const;

/** Trigger types served by the Durable backend (dev/durable). */
export const DURABLE_TRIGGER_TYPES = ['orchestrationTrigger', 'activityTrigger', 'entityTrigger'];

/** Capabilities the real worker announces (`getWorkerCapabilities.ts`); the library may add its own. */
const WORKER_CAPABILITIES: Record<string, string> = {
  RawHttpBodyBytes: 'true',
  RpcHttpTriggerMetadataRemoved: 'true',
  RpcHttpBodyOnly: 'true',
  IgnoreEmptyValuedRpcHttpHeaders: 'true',
  UseNullableValueDictionaryForHttp: 'true',
  WorkerStatus: 'true',
  TypedDataCollection: 'true',
  HandlesWorkerTerminateMessage: 'true',
};

export interface CreateFunctionHostOptions {
  /** The function app folder (package.json with `main`, host.json, optional local.settings.json). */
  appDir: string;
  /** Settings written to `process.env` before loading; they win over the environment and local.settings.json. */
  env?: Record<string, string>;
  /** Where logs go; default: stdout at `information` and above. */
  logger?: HostLogger;
  /** Trigger types to accept; default `SUPPORTED_TRIGGER_TYPES`. */
  supportedTriggerTypes?: readonly string[];
}

/** Raw invocation input, for the HTTP server and other triggers that build typed data themselves. */
export interface RawInvocation {
  inputData: RpcParameterBinding[];
  triggerMetadata?: Record<string, RpcTypedData>;
  invocationId?: string;
  /** Why the function runs, for the "Executing" log line (e.g. "This function was programmatically called"). */
  reason?: string;
}

/** The host core as the local host itself uses it (a superset of the Durable contract). */
export interface LocalFunctionHost extends FunctionHost {
  readonly appDir: string;
  /** host.json with `%SETTING%` references resolved. */
  readonly hostJson: Record<string, unknown>;
  readonly localSettings: LocalSettings;
  readonly logger: HostLogger;
  /** The provider registered for `bindingType`, if any. */
  getInputProvider(bindingType: string): InputProvider | undefined;
  /** Runs one invocation from already-typed inputs and returns the worker's response. */
  invokeRaw(name: string, invocation: RawInvocation): Promise<RpcInvocationResponse>;
  /** Invokes an HTTP function with the request as RpcHttpData; resolves with the response RpcHttpData (or undefined). */
  invokeHttp(name: string, request: RpcHttpData, invocationId?: string): Promise<RpcHttpData | undefined>;
  /** True when any function is a Durable function or takes a `durableClient` input. */
  usesDurable(): boolean;
  /** Runs appTerminate hooks and detaches the host from the core module. */
  dispose(): Promise<void>;
}

interface FunctionEntry {
  fn: RegisteredFunction;
  metadata: CoreFunctionMetadata;
  callback: FunctionCallback;
}

function isTriggerType(type: unknown): boolean {
  return typeof type === 'string' && /trigger$/i.test(type);
}

/** Removes the app's own modules from the require cache so a new host re-runs its registrations. */
function forgetAppModules(appDir: string, appRequire: NodeJS.Require): void {
  const root = path.resolve(appDir) + path.sep;
  for (const key of Object.keys(appRequire.cache)) {
    if (key.startsWith(root) && !key.includes(`${path.sep}node_modules${path.sep}`)) {
      delete appRequire.cache[key];
    }
  }
}

/** Loads the app in `options.appDir` and returns a host ready to invoke its functions. */
export async function createFunctionHost(options: CreateFunctionHostOptions): Promise<LocalFunctionHost> {
  const appDir = path.resolve(options.appDir);
  const logger = options.logger ?? createConsoleLogger();
  const supported = options.supportedTriggerTypes ?? SUPPORTED_TRIGGER_TYPES;

  for (const [key, value] of Object.entries(options.env ?? {})) process.env[key] = value;
  const localSettings = readLocalSettings(appDir);
  mergeSettingsIntoEnv(localSettings.values);
  const hostJson = resolveSettingReferencesDeep(readHostJson(appDir), 'host.json');

  const entries = new Map<string, FunctionEntry>();
  const hooks = new Map<string, HookCallback[]>();
  const providers = new Map<string, InputProvider>();
  const appHookData: Record<string, unknown> = {};
  const appLevelOnlyHookData: Record<string, unknown> = {};
  let startupFinished = false;

  const registrar: CoreRegistrar = {
    registerFunction(metadata, callback) {
      if (startupFinished) throw new Error('A function can only be registered during app startup.');
      const name = metadata.name;
      if (entries.has(name)) throw new Error(`A function named "${name}" is already registered.`);
      entries.set(name, { fn: toRegisteredFunction(metadata), metadata, callback });
      return new Disposable(() => {
        if (startupFinished) throw new Error('A function can only be disposed during app startup.');
        entries.delete(name);
      });
    },
    registerHook(hookName, callback) {
      const list = hooks.get(hookName) ?? [];
      list.push(callback);
      hooks.set(hookName, list);
      return new Disposable(() => {
        const current = hooks.get(hookName) ?? [];
        hooks.set(
          hookName,
          current.filter((c) => c !== callback),
        );
      });
    },
    log(level, category, message) {
      logger({ level, category, message });
    },
  };

  const entryPoints = resolveEntryPoints(appDir);
  installCoreModule();
  setActiveRegistrar(registrar);
  const appRequire = Module.createRequire(path.join(appDir, 'package.json'));
  forgetAppModules(appDir, appRequire);
  for (const file of entryPoints) {
    logger({ level: 'debug', category: 'host', message: `Loading entry point file "${file}"` });
    try {
      appRequire(file);
    } catch (err) {
      setActiveRegistrar(undefined);
      throw new Error(`Loading entry point ${file} failed: ${(err as Error).message}`, { cause: err });
    }
  }
  startupFinished = true;

  const problems: string[] = [];
  for (const { fn } of entries.values()) {
    if (!supported.includes(fn.trigger.type)) {
      problems.push(
        `Function "${fn.name}" uses trigger type "${fn.trigger.type}", which the local host does not support ` +
          `(supported: ${supported.join(', ')}).`,
      );
    }
  }
  if (problems.length > 0) {
    setActiveRegistrar(undefined);
    throw new Error(problems.join('\n'));
  }

  const model = getRegisteredProgrammingModel();
  if (entries.size > 0 && !model) {
    throw new Error(
      'The app registered functions but no programming model was set through @azure/functions-core.',
    );
  }
  // The worker asks the programming model for its capabilities once at start-up; this locks `app.setup()`.
  const capabilities = model?.getCapabilities
    ? await model.getCapabilities({ ...WORKER_CAPABILITIES })
    : WORKER_CAPABILITIES;
  if (capabilities.HttpUri) {
    // The library would now wait for requests on its own proxy server; the local host only speaks RpcHttpData.
    setActiveRegistrar(undefined);
    throw new Error(
      'The app enables HTTP streaming (app.setup({ enableHttpStream: true })), which the local host does not support.',
    );
  }

  const runHooks = async (
    hookName: string,
    context: Record<string, unknown>,
    fnName?: string,
    id?: string,
  ) => {
    const callbacks = hooks.get(hookName) ?? [];
    if (callbacks.length === 0) return;
    logger({
      level: 'debug',
      category: 'system',
      functionName: fnName,
      invocationId: id,
      message: `Executing ${callbacks.length} "${hookName}" hooks`,
    });
    for (const callback of callbacks) await callback(context);
  };

  await runHooks(
    'appStart',
    hookContext(appLevelOnlyHookData, appHookData, { functionAppDirectory: appDir }),
  );
  logger({
    level: 'information',
    category: 'host',
    message: `Loaded ${entries.size} function(s) from ${appDir}: ${[...entries.keys()].join(', ') || '(none)'}`,
  });

  const getEntry = (name: string): FunctionEntry => {
    const entry = entries.get(name);
    if (!entry)
      throw new Error(
        `No function named "${name}" is registered (known: ${[...entries.keys()].join(', ')}).`,
      );
    return entry;
  };

  const invokeRaw = async (name: string, invocation: RawInvocation): Promise<RpcInvocationResponse> => {
    const entry = getEntry(name);
    const programmingModel = getRegisteredProgrammingModel();
    if (!programmingModel) throw new Error('No programming model is registered.');
    const invocationId = invocation.invocationId ?? randomUUID();
    const started = Date.now();
    const log = (level: Parameters<HostLogger>[0]['level'], message: string) =>
      logger({ level, category: 'host', functionName: name, invocationId, message });
    log(
      'information',
      `Executing 'Functions.${name}' (Reason='${invocation.reason ?? 'This function was programmatically called via the host APIs.'}', Id=${invocationId})`,
    );

    const coreCtx: CoreInvocationContext = {
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
        directory: appDir,
        scriptFile: 'n/a',
        bindings: entry.metadata.bindings,
        rawBindings: Object.entries(entry.metadata.bindings).map(([n, b]) =>
          JSON.stringify({ ...b, name: n }),
        ),
        retryOptions: entry.metadata.retryOptions ?? null,
      },
      state: undefined as InvocationState | undefined,
      log(level, category, message) {
        logger({ level, category, functionName: name, invocationId, message });
      },
    };

    // The worker marks which stage an invocation is in (the library warns about logs after it is done).
    const inState = async (state: InvocationState, run: () => Promise<void>): Promise<void> => {
      coreCtx.state = state;
      try {
        await run();
      } finally {
        coreCtx.state = undefined;
      }
    };

    try {
      const invocationModel = await programmingModel.getInvocationModel(coreCtx);
      const hookData: Record<string, unknown> = {};
      const args = await invocationModel.getArguments();
      const { context } = args;
      let { inputs } = args;
      let callback = entry.callback;

      const preContext = hookContext(hookData, appHookData, { invocationContext: context });
      preContext.inputs = inputs;
      preContext.functionCallback = callback;
      await inState('preInvocationHooks', () => runHooks('preInvocation', preContext, name, invocationId));
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
      await inState('postInvocationHooks', () => runHooks('postInvocation', postContext, name, invocationId));
      // Like the worker, rethrow what the handler threw (the library's errors are Error instances).
      if (postContext.error !== null && postContext.error !== undefined) {
        throw postContext.error instanceof Error ? postContext.error : new Error(inspect(postContext.error));
      }

      const response = await invocationModel.getResponse(context, postContext.result);
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
  };

  const extraInputData = (
    fn: RegisteredFunction,
    given: Record<string, unknown> | undefined,
  ): RpcParameterBinding[] => {
    const data: RpcParameterBinding[] = [];
    for (const [bindingName, binding] of Object.entries(fn.bindings)) {
      if (bindingName === fn.triggerName || binding.direction !== 'in') continue;
      let value: unknown;
      if (given && bindingName in given) {
        value = given[bindingName];
      } else {
        const provider = providers.get(binding.type);
        if (!provider) {
          throw new Error(
            `Function "${fn.name}" has an input binding "${bindingName}" of type "${binding.type}" that the local host cannot supply.`,
          );
        }
        value = provider(fn, bindingName, binding);
      }
      const typed = toHostTypedData(value);
      data.push(typed ? { name: bindingName, data: typed } : { name: bindingName });
    }
    return data;
  };

  const host: LocalFunctionHost = {
    appDir,
    hostJson,
    localSettings,
    logger,
    functions: () => [...entries.values()].map((e) => e.fn),
    getFunction: (name) => entries.get(name)?.fn,
    registerInputProvider(bindingType, provider) {
      providers.set(bindingType, provider);
    },
    getInputProvider: (bindingType) => providers.get(bindingType),
    invokeRaw,
    async invoke(
      name: string,
      triggerValue: unknown,
      invokeOptions: InvokeOptions = {},
    ): Promise<InvokeResult> {
      const { fn } = getEntry(name);
      if (fn.trigger.type === 'httpTrigger') {
        throw new Error(`Function "${name}" is an HTTP function; call it over HTTP (or invokeHttp).`);
      }
      const trigger = toHostTypedData(triggerValue);
      const response = await invokeRaw(name, {
        inputData: [
          trigger ? { name: fn.triggerName, data: trigger } : { name: fn.triggerName },
          ...extraInputData(fn, invokeOptions.extraInputs),
        ],
        triggerMetadata: toHostTriggerMetadata(invokeOptions.triggerMetadata),
        invocationId: invokeOptions.invocationId,
        reason: invokeOptions.reason,
      });
      return fromInvocationResponse(response);
    },
    async invokeHttp(name, request, invocationId) {
      const { fn } = getEntry(name);
      const params: Record<string, RpcTypedData> = {};
      for (const [key, value] of Object.entries(request.nullableParams ?? {})) {
        if (value.value !== undefined && value.value !== null) params[key] = { string: value.value };
      }
      const response = await invokeRaw(name, {
        inputData: [{ name: fn.triggerName, data: { http: request } }, ...extraInputData(fn, undefined)],
        triggerMetadata: params,
        invocationId,
        reason: `This function was programmatically called via the host APIs.`,
      });
      return httpResponseOf(fn, response);
    },
    usesDurable() {
      return [...entries.values()].some(
        ({ fn }) =>
          DURABLE_TRIGGER_TYPES.includes(fn.trigger.type) ||
          Object.values(fn.bindings).some((b) => b.type === 'durableClient'),
      );
    },
    async dispose() {
      try {
        await runHooks('appTerminate', hookContext(appLevelOnlyHookData, appHookData, {}));
      } finally {
        if (getActiveRegistrar() === registrar) setActiveRegistrar(undefined);
      }
    },
  };
  return host;
}

/** A hook context as the worker builds it: `hookData`/`appHookData` are read-only properties. */
function hookContext(
  hookData: Record<string, unknown>,
  appHookData: Record<string, unknown>,
  readOnly: Record<string, unknown>,
): Record<string, unknown> {
  const context: Record<string, unknown> = {};
  const define = (key: string, value: unknown) =>
    Object.defineProperty(context, key, {
      enumerable: true,
      get: () => value,
      set: () => {
        throw new Error(`Cannot assign to read only property '${key}'.`);
      },
    });
  define('hookData', hookData);
  define('appHookData', appHookData);
  for (const [key, value] of Object.entries(readOnly)) define(key, value);
  return context;
}

/** Metadata as registered → the contract's RegisteredFunction, with `%SETTING%` resolved in binding strings. */
function toRegisteredFunction(metadata: CoreFunctionMetadata): RegisteredFunction {
  const bindings: Record<string, BindingInfo> = {};
  let triggerName: string | undefined;
  for (const [bindingName, raw] of Object.entries(metadata.bindings)) {
    const resolved: BindingInfo = {
      ...raw,
      type: String(raw.type),
      direction: String(raw.direction ?? 'in'),
    };
    for (const [key, value] of Object.entries(raw)) {
      // `connection` names an app setting and is looked up by name, never substituted.
      if (typeof value === 'string' && !['type', 'direction', 'name', 'connection'].includes(key)) {
        resolved[key] = resolveSettingReferences(
          value,
          `Function "${metadata.name}", binding "${bindingName}", property "${key}"`,
        );
      }
    }
    bindings[bindingName] = resolved;
    if (isTriggerType(raw.type)) {
      if (triggerName !== undefined)
        throw new Error(`Function "${metadata.name}" has more than one trigger.`);
      triggerName = bindingName;
    }
  }
  if (triggerName === undefined) throw new Error(`Function "${metadata.name}" has no trigger binding.`);
  return {
    name: metadata.name,
    bindings,
    triggerName,
    trigger: bindings[triggerName]!,
    raw: metadata as unknown as Record<string, unknown>,
  };
}

/** The worker's response as plain values: `returnValue` and named output bindings. */
export function fromInvocationResponse(response: RpcInvocationResponse): InvokeResult {
  const outputs: Record<string, unknown> = {};
  for (const binding of response.outputData ?? []) {
    if (binding.name) outputs[binding.name] = fromWorkerTypedData(binding.data);
  }
  return { returnValue: fromWorkerTypedData(response.returnValue), outputs };
}

/** The HTTP response of an invocation: the `$return` http binding, or else the first http output binding. */
function httpResponseOf(fn: RegisteredFunction, response: RpcInvocationResponse): RpcHttpData | undefined {
  if (fn.bindings.$return?.type === 'http') return response.returnValue?.http ?? undefined;
  for (const binding of response.outputData ?? []) {
    if (binding.name && fn.bindings[binding.name]?.type === 'http') return binding.data?.http ?? undefined;
  }
  return undefined;
}
