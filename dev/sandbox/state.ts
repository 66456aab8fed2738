/**
 * The sandbox's live state: its accounts, the faults it injects (random and scripted), the request log,
 * counters and the sliding rate windows. Tests inspect it in process or through `/__sandbox/`.
 */
import { type AccountOptions, SandboxAccount } from './account';
import { seededRandom } from './random';

/** Faults the sandbox injects into `/api/3/` traffic, each a probability per request unless noted. */
export interface SandboxFaults {
  rate429: number;
  rate503: number;
  /** Destroy the socket before doing anything. */
  resetBeforeRate: number;
  /** Do the work (e.g. queue the import), then destroy the socket instead of answering. */
  resetAfterRate: number;
  /** Added latency per request, in sandbox ms (scaled like everything else). */
  latencyMs: number;
  latencyJitterMs: number;
  failedBatchRate: number;
  interruptedBatchRate: number;
  /** Retry-After of an injected 429, in sandbox seconds. */
  injectedRetryAfterSeconds: number;
  /** How every 429 states Retry-After. */
  retryAfterFormat: 'seconds' | 'http-date';
}

/** A fault for the next API request, consumed in order before any random fault (deterministic tests). */
export type ScriptedFault =
  | { type: 'throttle'; retryAfterSeconds?: number }
  | { type: 'unavailable' }
  | { type: 'server-error'; status?: number }
  | { type: 'reset-before' }
  | { type: 'reset-after' }
  | { type: 'delay'; ms: number };

export const NO_FAULTS: SandboxFaults = {
  rate429: 0,
  rate503: 0,
  resetBeforeRate: 0,
  resetAfterRate: 0,
  latencyMs: 0,
  latencyJitterMs: 0,
  failedBatchRate: 0,
  interruptedBatchRate: 0,
  injectedRetryAfterSeconds: 1,
  retryAfterFormat: 'seconds',
};

/** One line of the request log. Never holds headers, so never an API key. */
export interface LoggedRequest {
  seq: number;
  /** Sandbox-clock ms when the request arrived. */
  at: number;
  method: string;
  path: string;
  account: string | undefined;
  /** HTTP status sent; 0 when the socket was destroyed instead. */
  status: number;
  /** What happened: ok, auth, throttled, bulk-throttled, injected-429, injected-503, reset-before, reset-after, invalid, too-large, not-found. */
  outcome: string;
  /** Counted against the 5 rps window. */
  rateCounted: boolean;
  /** Counted against a bulk imports/min window. */
  bulkCounted: boolean;
  contacts?: number;
  batchId?: string;
}

export interface SandboxCounters {
  throttled: number;
  bulkThrottled: number;
  injected429: number;
  injected503: number;
  resets: number;
  bulkImportsAccepted: number;
}

function emptyCounters(): SandboxCounters {
  return {
    throttled: 0,
    bulkThrottled: 0,
    injected429: 0,
    injected503: 0,
    resets: 0,
    bulkImportsAccepted: 0,
  };
}

/** The live state behind a sandbox, for in-process inspection by tests. */
export class SandboxState {
  readonly accounts: SandboxAccount[];
  readonly log: LoggedRequest[] = [];
  faults: SandboxFaults;
  counters: SandboxCounters = emptyCounters();
  readonly rpsWindow = new Map<string, number[]>();
  readonly bulkWindow = new Map<string, number[]>();
  readonly singleWindow = new Map<string, number[]>();
  random: () => number;
  /** Scripted faults for the next API requests (after authentication and the rps check). */
  readonly scripted: ScriptedFault[] = [];

  constructor(accounts: AccountOptions[], faults: SandboxFaults, seed: number) {
    this.accounts = accounts.map((a) => new SandboxAccount(a));
    this.faults = faults;
    this.random = seededRandom(seed);
  }

  account(name?: string): SandboxAccount {
    const account = name === undefined ? this.accounts[0] : this.accounts.find((a) => a.name === name);
    if (!account) throw new Error(`no sandbox account ${name ?? ''}`);
    return account;
  }

  byKey(key: string | undefined): SandboxAccount | undefined {
    return key === undefined ? undefined : this.accounts.find((a) => a.apiKeys.has(key));
  }

  /** Forgets contacts, batches, the request log and the rate windows; optionally reseeds. */
  reset(seed?: number): void {
    for (const account of this.accounts) account.reset();
    this.log.length = 0;
    this.scripted.length = 0;
    this.rpsWindow.clear();
    this.bulkWindow.clear();
    this.singleWindow.clear();
    this.counters = emptyCounters();
    if (seed !== undefined) this.random = seededRandom(seed);
  }
}
