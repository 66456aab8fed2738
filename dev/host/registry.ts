/**
 * What the app registers through `@azure/functions-core` while it loads: its functions (metadata resolved
 * into `RegisteredFunction`s) and its hooks, and running those hooks as the worker does.
 */
import { resolveSettingReferences } from './appFiles';
import { type CoreRegistrar, Disposable } from './coreModule';
import type { CoreFunctionMetadata, FunctionCallback, HookCallback } from './coreTypes';
import type { HostLogger } from './logger';
import type { BindingInfo, RegisteredFunction } from './types';

/** One registered function: the contract's view, the metadata as registered, and its callback. */
export interface FunctionEntry {
  fn: RegisteredFunction;
  metadata: CoreFunctionMetadata;
  callback: FunctionCallback;
}

/** The app's registrations, open during start-up only (as in the worker). */
export class FunctionRegistry {
  readonly entries = new Map<string, FunctionEntry>();
  private readonly hooks = new Map<string, HookCallback[]>();
  private startupFinished = false;
  /** What `@azure/functions-core` hands registrations to while this registry is active. */
  readonly registrar: CoreRegistrar;

  constructor(private readonly logger: HostLogger) {
    const { entries, hooks } = this;
    this.registrar = {
      registerFunction: (metadata, callback) => {
        if (this.startupFinished) throw new Error('A function can only be registered during app startup.');
        const name = metadata.name;
        if (entries.has(name)) throw new Error(`A function named "${name}" is already registered.`);
        entries.set(name, { fn: toRegisteredFunction(metadata), metadata, callback });
        return new Disposable(() => {
          if (this.startupFinished) throw new Error('A function can only be disposed during app startup.');
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
  }

  /** Ends start-up: no function can be registered or disposed any more. */
  finishStartup(): void {
    this.startupFinished = true;
  }

  /** The function named `name`; throws naming the known ones when there is none. */
  getEntry(name: string): FunctionEntry {
    const entry = this.entries.get(name);
    if (!entry)
      throw new Error(
        `No function named "${name}" is registered (known: ${[...this.entries.keys()].join(', ')}).`,
      );
    return entry;
  }

  /** Runs the hooks registered for `hookName`, one after another. */
  async runHooks(
    hookName: string,
    context: Record<string, unknown>,
    fnName?: string,
    id?: string,
  ): Promise<void> {
    const callbacks = this.hooks.get(hookName) ?? [];
    if (callbacks.length === 0) return;
    this.logger({
      level: 'debug',
      category: 'system',
      functionName: fnName,
      invocationId: id,
      message: `Executing ${callbacks.length} "${hookName}" hooks`,
    });
    for (const callback of callbacks) await callback(context);
  }
}

function isTriggerType(type: unknown): boolean {
  return typeof type === 'string' && /trigger$/i.test(type);
}

/** A hook context as the worker builds it: `hookData`/`appHookData` are read-only properties. */
export function hookContext(
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
