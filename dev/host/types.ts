/**
 * The contract between the local host's core (dev/host: loads the app through a `@azure/functions-core`
 * shim, serves HTTP, fires timers and blob triggers) and the Durable backend (dev/durable).
 */

import type { IncomingMessage, ServerResponse } from 'node:http';

/** One binding of a registered function, as `@azure/functions` hands it to `registerFunction`. */
export interface BindingInfo {
  type: string;
  /** 'in' | 'out' | 'inout' (typed as string: the library passes it through unchecked). */
  direction: string;
  /** Every other property the library put on the binding (route, methods, schedule, path, connection...). */
  [key: string]: unknown;
}

/** A function the app registered, with its full metadata. */
export interface RegisteredFunction {
  name: string;
  /** Binding name -> binding, exactly as registered (e.g. `{ context: { type: 'orchestrationTrigger', direction: 'in' } }`). */
  bindings: Record<string, BindingInfo>;
  /** Name and binding of the single trigger. */
  triggerName: string;
  trigger: BindingInfo;
  /** Raw metadata object as registered (retryOptions etc.). */
  raw: Record<string, unknown>;
}

/** Options for one invocation. */
export interface InvokeOptions {
  /** Trigger metadata passed to the function (e.g. blob path bindings), plain JSON values. */
  triggerMetadata?: Record<string, unknown>;
  /** Values for non-trigger input bindings by binding name; omitted ones are asked of the input providers. */
  extraInputs?: Record<string, unknown>;
  /** Id for logs; generated when omitted. */
  invocationId?: string;
  /** Why the function runs, for the host's "Executing 'Functions.x' (Reason=...)" log line. */
  reason?: string;
}

/** What an invocation produced: the return value and any named output bindings, as plain values. */
export interface InvokeResult {
  returnValue: unknown;
  outputs: Record<string, unknown>;
}

/**
 * Supplies the value of an input binding of a given type (e.g. `durableClient`) for a function about to be
 * invoked. The value is what the real host would send as that binding's data (for `durableClient`: the
 * client binding JSON string / object with `rpcBaseUrl`, `taskHubName`, ...).
 */
export type InputProvider = (fn: RegisteredFunction, bindingName: string, binding: BindingInfo) => unknown;

/** The host core as the Durable backend (and tests) see it. */
export interface FunctionHost {
  /** Every registered function. */
  functions(): RegisteredFunction[];
  /** The function registered under `name`, or undefined. */
  getFunction(name: string): RegisteredFunction | undefined;
  /**
   * Invokes a non-HTTP function with its trigger value, converting values as the real worker does (objects
   * travel as JSON typed data; the result comes back JSON round-tripped). Rejects with the function's error.
   */
  invoke(name: string, triggerValue: unknown, options?: InvokeOptions): Promise<InvokeResult>;
  /** Registers the provider for every input binding of `bindingType` (e.g. 'durableClient'). */
  registerInputProvider(bindingType: string, provider: InputProvider): void;
}

/** What the host hands the Durable backend (dev/durable/index.ts `startDurableBackend`). */
export interface DurableBackendOptions {
  host: FunctionHost;
  storageConnectionString: string;
  taskHubName: string;
  /** host.json (settings references resolved); `extensions.durableTask` is read. */
  hostJson: unknown;
  /** Origin of the host's HTTP server, e.g. `http://127.0.0.1:7071`; management URLs point there. */
  baseUrl: string;
}

/** What the host needs back from the Durable backend. */
export interface DurableBackend {
  /** The `rpcBaseUrl` of the `durableClient` binding. */
  rpcBaseUrl: string;
  /** Path prefix the host's HTTP server forwards to `handleWebhook` (`/runtime/webhooks/durabletask`). */
  webhookPath?: string;
  /** Serves a request under `webhookPath` (the status/event/terminate URLs of createCheckStatusResponse). */
  handleWebhook?(req: IncomingMessage, res: ServerResponse): Promise<void>;
  stop(): Promise<void>;
}
