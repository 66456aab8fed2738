/**
 * The host core: loads a v4 app through the `@azure/functions-core` shim and invokes its functions exactly as
 * the Node.js worker does (Azure/azure-functions-nodejs-worker `src/eventHandlers/InvocationHandler.ts`).
 * Its parts: the app's registrations (registry.ts), one invocation's steps (invocation.ts), the inputs and
 * results around the trigger (triggerPlumbing.ts). Routing HTTP requests to functions is http/httpServer.ts;
 * timers and blobs fire through timerTrigger.ts and blobTrigger.ts.
 *
 * Usage (the Durable backend and tests):
 *   const host = await createFunctionHost({ appDir: 'test/fixtures/host-app/basic' });
 *   host.registerInputProvider('durableClient', (fn, name, binding) => ({ taskHubName: 'Hub', ... }));
 *   const { returnValue, outputs } = await host.invoke('myActivity', JSON.stringify({ n: 1 }));
 *   await host.dispose();
 * Trigger values and extra inputs: strings travel as `string` typed data (the library JSON-parses them when
 * it can, as in Azure), Buffers as bytes, everything else as JSON text. Results come back as plain values.
 */
import Module from 'node:module';
import path from 'node:path';

import {
  type LocalSettings,
  mergeSettingsIntoEnv,
  readHostJson,
  readLocalSettings,
  resolveEntryPoints,
  resolveSettingReferencesDeep,
} from './appFiles';
import {
  getActiveRegistrar,
  getRegisteredProgrammingModel,
  installCoreModule,
  setActiveRegistrar,
} from './coreModule';
import type { RpcHttpData, RpcInvocationResponse } from './coreTypes';
import { invokeRaw, type RawInvocation } from './invocation';
import { createConsoleLogger, type HostLogger } from './logger';
import { FunctionRegistry, hookContext } from './registry';
import { invokeHttpFunction, invokeWithTrigger } from './triggerPlumbing';
import type { FunctionHost, InputProvider, InvokeOptions, InvokeResult } from './types';

export type { RawInvocation } from './invocation';
export { fromInvocationResponse } from './triggerPlumbing';

export const SUPPORTED_TRIGGER_TYPES = [
  'httpTrigger',
  'timerTrigger',
  'blobTrigger',
  'orchestrationTrigger',
  'activityTrigger',
  'entityTrigger',
] as const;

export const DURABLE_TRIGGER_TYPES = ['orchestrationTrigger', 'activityTrigger', 'entityTrigger'];

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

/** Removes the app's own modules from the require cache so a new host re-runs its registrations. */
function forgetAppModules(appDir: string, appRequire: NodeJS.Require): void {
  const root = path.resolve(appDir) + path.sep;
  for (const key of Object.keys(appRequire.cache)) {
    if (key.startsWith(root) && !key.includes(`${path.sep}node_modules${path.sep}`)) {
      delete appRequire.cache[key];
    }
  }
}

/** Requires the app's entry points with `registry` active, so every registration lands in it. */
function loadEntryPoints(appDir: string, registry: FunctionRegistry, logger: HostLogger): void {
  const entryPoints = resolveEntryPoints(appDir);
  installCoreModule();
  setActiveRegistrar(registry.registrar);
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
  registry.finishStartup();
}

/** Refuses, naming every function concerned, what the local host cannot run; asks the model its capabilities. */
async function checkRegistrations(registry: FunctionRegistry, supported: readonly string[]): Promise<void> {
  const problems: string[] = [];
  for (const { fn } of registry.entries.values()) {
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
  if (registry.entries.size > 0 && !model) {
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

  const registry = new FunctionRegistry(logger);
  const { entries } = registry;
  const providers = new Map<string, InputProvider>();
  const appHookData: Record<string, unknown> = {};
  const appLevelOnlyHookData: Record<string, unknown> = {};
  loadEntryPoints(appDir, registry, logger);
  await checkRegistrations(registry, supported);

  await registry.runHooks(
    'appStart',
    hookContext(appLevelOnlyHookData, appHookData, { functionAppDirectory: appDir }),
  );
  logger({
    level: 'information',
    category: 'host',
    message: `Loaded ${entries.size} function(s) from ${appDir}: ${[...entries.keys()].join(', ') || '(none)'}`,
  });

  const raw = (name: string, invocation: RawInvocation) =>
    invokeRaw({ registry, appDir, logger, appHookData }, name, invocation);
  return {
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
    invokeRaw: raw,
    invoke: (name: string, triggerValue: unknown, invokeOptions: InvokeOptions = {}): Promise<InvokeResult> =>
      invokeWithTrigger(registry.getEntry(name).fn, raw, providers, triggerValue, invokeOptions),
    invokeHttp: (name, request, invocationId) =>
      invokeHttpFunction(registry.getEntry(name).fn, raw, providers, request, invocationId),
    usesDurable() {
      return [...entries.values()].some(
        ({ fn }) =>
          DURABLE_TRIGGER_TYPES.includes(fn.trigger.type) ||
          Object.values(fn.bindings).some((b) => b.type === 'durableClient'),
      );
    },
    async dispose() {
      try {
        await registry.runHooks('appTerminate', hookContext(appLevelOnlyHookData, appHookData, {}));
      } finally {
        if (getActiveRegistrar() === registry.registrar) setActiveRegistrar(undefined);
      }
    },
  };
}
