/**
 * The local Functions host (never deployed). See functionHost.ts for the core (`createFunctionHost`) and
 * types.ts for the contract with the Durable backend.
 */
export type { CoreRegistrar } from './coreModule';
export { CORE_MODULE_SPECIFIER, installCoreModule } from './coreModule';
export type { CreateFunctionHostOptions, LocalFunctionHost, RawInvocation } from './functionHost';
export {
  createFunctionHost,
  DURABLE_TRIGGER_TYPES,
  fromInvocationResponse,
  SUPPORTED_TRIGGER_TYPES,
} from './functionHost';
export type { HostLogEntry, HostLogger } from './logger';
export { createConsoleLogger } from './logger';
export type { RunningHost, StartHostOptions } from './startHost';
export { startHost } from './startHost';
export type {
  BindingInfo,
  DurableBackend,
  DurableBackendOptions,
  FunctionHost,
  InputProvider,
  InvokeOptions,
  InvokeResult,
  RegisteredFunction,
} from './types';
