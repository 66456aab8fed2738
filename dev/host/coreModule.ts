/**
 * The `@azure/functions-core` module, provided the way the real Node.js worker provides it: by wrapping
 * `Module.prototype.require` so that exactly that specifier returns an in-process API object
 * (Azure/azure-functions-nodejs-worker `src/setupCoreModule.ts`). Nothing is written to node_modules, so the
 * deployed app keeps resolving the real worker's module in Azure.
 *
 * `@azure/functions` caches the core API and sets its programming model once per process, so the API object
 * is a process-wide singleton that forwards registrations to whichever host is loading an app right now.
 */
import Module from 'node:module';

import type {
  CoreFunctionMetadata,
  DisposableLike,
  FunctionCallback,
  HookCallback,
  ProgrammingModel,
  RpcLogCategory,
  RpcLogLevel,
} from './coreTypes';

export const CORE_MODULE_SPECIFIER = '@azure/functions-core';

/** The worker version the shim reports (the v3.x worker line is the one that supports programming model v4). */
export const SHIM_WORKER_VERSION = '3.10.1-local';

/** What a host does with what the app hands to the core API. */
export interface CoreRegistrar {
  registerFunction(metadata: CoreFunctionMetadata, callback: FunctionCallback): DisposableLike;
  registerHook(hookName: string, callback: HookCallback): DisposableLike;
  log(level: RpcLogLevel, category: RpcLogCategory, message: string): void;
}

/** Same semantics as the worker's `Disposable` (after VS Code's): dispose runs the callback once. */
export class Disposable implements DisposableLike {
  static from(...items: DisposableLike[]): Disposable {
    return new Disposable(() => {
      for (const item of items) item.dispose();
    });
  }

  #callOnDispose: (() => unknown) | undefined;

  constructor(callOnDispose: () => unknown) {
    this.#callOnDispose = callOnDispose;
  }

  dispose(): unknown {
    const callback = this.#callOnDispose;
    this.#callOnDispose = undefined;
    return callback?.();
  }
}

let registrar: CoreRegistrar | undefined;
let programmingModel: ProgrammingModel | undefined;
let installed = false;

function activeRegistrar(what: string): CoreRegistrar {
  if (!registrar) {
    throw new Error(`@azure/functions-core: ${what} was called while no local Functions host is active.`);
  }
  return registrar;
}

/** The object `require('@azure/functions-core')` returns inside a local host process. */
export const coreApi = {
  version: SHIM_WORKER_VERSION,
  hostVersion: '4.1000.0-local',
  registerFunction: (metadata: CoreFunctionMetadata, callback: FunctionCallback) =>
    activeRegistrar(`registerFunction("${metadata.name}")`).registerFunction(metadata, callback),
  registerHook: (hookName: string, callback: HookCallback) =>
    activeRegistrar(`registerHook("${hookName}")`).registerHook(hookName, callback),
  setProgrammingModel: (model: ProgrammingModel) => {
    programmingModel = model;
  },
  getProgrammingModel: () => programmingModel,
  log: (level: RpcLogLevel, category: RpcLogCategory, message: string) => {
    if (registrar) registrar.log(level, category, message);
    else console.log(`[${level}] ${message}`);
  },
  Disposable,
};

/** Installs the require hook once per process; later calls are no-ops. */
export function installCoreModule(): void {
  if (installed) return;
  installed = true;
  // A Proxy keeps `require.resolve`, `require.cache` etc. untouched; only the call itself is intercepted.
  // eslint-disable-next-line @typescript-eslint/unbound-method
  Module.prototype.require = new Proxy(Module.prototype.require, {
    apply(target, thisArg, args: unknown[]) {
      if (args[0] === CORE_MODULE_SPECIFIER) return coreApi;
      return Reflect.apply(target, thisArg, args) as unknown;
    },
  });
}

/** Makes `target` the host that receives registrations, hooks and logs from the app. */
export function setActiveRegistrar(target: CoreRegistrar | undefined): void {
  registrar = target;
}

/** The registrar currently receiving registrations. */
export function getActiveRegistrar(): CoreRegistrar | undefined {
  return registrar;
}

/** The programming model `@azure/functions` registered (undefined until the app registered something). */
export function getRegisteredProgrammingModel(): ProgrammingModel | undefined {
  return programmingModel;
}
