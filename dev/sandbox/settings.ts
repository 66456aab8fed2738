/** The sandbox's options, the settings made from them, and the context every request handler shares. */
import type { AccountOptions } from './account';
import type { ScaledClock } from './clock';
import type { SandboxFaults, SandboxState } from './state';

export interface SandboxOptions {
  port?: number;
  /** 60 = a sandbox minute passes in one real second. */
  timeScale?: number;
  seed?: number;
  accounts?: AccountOptions[];
  faults?: Partial<SandboxFaults>;
  authFailureStatus?: 401 | 403;
  requestsPerSecond?: number;
  bulkImportsPerMinute?: number;
  singleContactImportsPerMinute?: number;
  invalidEmailMode?: 'reject-request' | 'per-contact';
  failureReasonIndexBase?: 0 | 1;
  batchReadyDelayMs?: number;
  batchWaitingMs?: number;
  /** How much of the waiting time import/info reports `claimed` instead of `waiting`. */
  batchClaimedMs?: number;
  batchMsPerContact?: number;
}

/** The options with their defaults filled in. */
export interface SandboxSettings {
  authFailureStatus: 401 | 403;
  rps: number;
  bulkPerMinute: number;
  singlePerMinute: number;
  invalidEmailMode: 'reject-request' | 'per-contact';
  indexBase: 0 | 1;
  timing: { readyDelayMs: number; waitingMs: number; claimedMs: number; msPerContact: number };
}

/** The options' settings, with ActiveCampaign's documented limits as defaults. */
export function sandboxSettings(options: SandboxOptions): SandboxSettings {
  return {
    authFailureStatus: options.authFailureStatus ?? 403,
    rps: options.requestsPerSecond ?? 5,
    bulkPerMinute: options.bulkImportsPerMinute ?? 100,
    singlePerMinute: options.singleContactImportsPerMinute ?? 20,
    invalidEmailMode: options.invalidEmailMode ?? 'reject-request',
    indexBase: options.failureReasonIndexBase ?? 0,
    timing: {
      readyDelayMs: options.batchReadyDelayMs ?? 1_000,
      waitingMs: options.batchWaitingMs ?? 1_500,
      claimedMs: options.batchClaimedMs ?? 300,
      msPerContact: options.batchMsPerContact ?? 10,
    },
  };
}

/** What every request handler of one sandbox shares. */
export interface SandboxContext {
  clock: ScaledClock;
  state: SandboxState;
  settings: SandboxSettings;
  /** Counts accepted bulk imports, to alternate `success` / `Success`. */
  successSpelling: number;
}

/** The account a sandbox has when none is given. */
export const DEFAULT_ACCOUNT: AccountOptions = {
  name: 'sandbox',
  apiKeys: ['sandbox-api-key-0123456789'],
  lists: [{ id: 1, name: 'Sandbox list' }],
};
