/**
 * Trigger plumbing: the inputs an invocation gets besides its trigger (from input providers, e.g. the
 * Durable client), and what comes back (return value and output bindings, or the HTTP response).
 */
import type { RpcHttpData, RpcInvocationResponse, RpcParameterBinding, RpcTypedData } from './coreTypes';
import type { RawInvocation } from './invocation';
import { fromWorkerTypedData, toHostTriggerMetadata, toHostTypedData } from './typedData';
import type { InputProvider, InvokeOptions, InvokeResult, RegisteredFunction } from './types';

/** Runs one raw invocation (the host's `invokeRaw`). */
export type RawInvoke = (name: string, invocation: RawInvocation) => Promise<RpcInvocationResponse>;

/** The function's non-trigger inputs: given ones first, else from the provider of their binding type. */
export function extraInputData(
  fn: RegisteredFunction,
  given: Record<string, unknown> | undefined,
  providers: Map<string, InputProvider>,
): RpcParameterBinding[] {
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
export function httpResponseOf(
  fn: RegisteredFunction,
  response: RpcInvocationResponse,
): RpcHttpData | undefined {
  if (fn.bindings.$return?.type === 'http') return response.returnValue?.http ?? undefined;
  for (const binding of response.outputData ?? []) {
    if (binding.name && fn.bindings[binding.name]?.type === 'http') return binding.data?.http ?? undefined;
  }
  return undefined;
}

/** Invokes a non-HTTP function with its trigger value and extra inputs; returns plain values. */
export async function invokeWithTrigger(
  fn: RegisteredFunction,
  raw: RawInvoke,
  providers: Map<string, InputProvider>,
  triggerValue: unknown,
  invokeOptions: InvokeOptions,
): Promise<InvokeResult> {
  if (fn.trigger.type === 'httpTrigger') {
    throw new Error(`Function "${fn.name}" is an HTTP function; call it over HTTP (or invokeHttp).`);
  }
  const trigger = toHostTypedData(triggerValue);
  const response = await raw(fn.name, {
    inputData: [
      trigger ? { name: fn.triggerName, data: trigger } : { name: fn.triggerName },
      ...extraInputData(fn, invokeOptions.extraInputs, providers),
    ],
    triggerMetadata: toHostTriggerMetadata(invokeOptions.triggerMetadata),
    invocationId: invokeOptions.invocationId,
    reason: invokeOptions.reason,
  });
  return fromInvocationResponse(response);
}

/** Invokes an HTTP function with the request as RpcHttpData; resolves with the response RpcHttpData. */
export async function invokeHttpFunction(
  fn: RegisteredFunction,
  raw: RawInvoke,
  providers: Map<string, InputProvider>,
  request: RpcHttpData,
  invocationId: string | undefined,
): Promise<RpcHttpData | undefined> {
  const params: Record<string, RpcTypedData> = {};
  for (const [key, value] of Object.entries(request.nullableParams ?? {})) {
    if (value.value !== undefined && value.value !== null) params[key] = { string: value.value };
  }
  const response = await raw(fn.name, {
    inputData: [
      { name: fn.triggerName, data: { http: request } },
      ...extraInputData(fn, undefined, providers),
    ],
    triggerMetadata: params,
    invocationId,
    reason: `This function was programmatically called via the host APIs.`,
  });
  return httpResponseOf(fn, response);
}
