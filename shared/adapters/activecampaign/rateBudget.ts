/**
 * Pacing under ActiveCampaign's two budgets, shared by every worker that talks to one account:
 * 5 requests/s per account, shared by all keys (developers.activecampaign.com/reference/rate-limits), and
 * 100 multi-contact / 20 single-contact bulk imports per minute (reference/bulk-import-contacts). Bulk imports
 * are assumed to count against the request budget too (UNCONFIRMED, so we assume the stricter reading).
 *
 * The algorithm is a reservation schedule: the account's state is "the next free slot" for each budget. A caller
 * reserves the earliest slot that satisfies every budget it needs, moves the slots on by one interval, then
 * sleeps until its slot. Spacing requests one interval apart never exceeds a sliding-window limit, needs only
 * two numbers of shared state, and is the same arithmetic in-process and in an Azure Table row.
 */
import type { Config } from '../../config';
import { type Clock, sleepUntil } from './clock';

/** What a slot is for. A bulk import needs a bulk slot and a request slot. */
export type BudgetKind = 'request' | 'bulkImport' | 'singleContactImport';

/** Configured budgets for one account (from `ACTIVECAMPAIGN_REQUESTS_PER_SECOND` etc.). */
export interface RateLimits {
  requestsPerSecond: number;
  bulkImportsPerMinute: number;
  singleContactImportsPerMinute: number;
  /**
   * Fraction of each budget actually used (0–1]. Requests arrive with network jitter, so exact spacing can
   * look like a burst at the server; a small margin keeps a sliding-window limiter from ever seeing one.
   */
  requestSafety: number;
  bulkSafety: number;
  /**
   * How much later than its slot a request may reach ActiveCampaign compared with the one after it (send-path
   * and network jitter), in clock ms. The sliding-window check holds N uses to N per (span + this), so a
   * request delayed on its way can never land in the same window as one sent a full window after it.
   * With a time-scaled clock, pass real jitter × time scale: the same real delay is worth more clock ms.
   */
  jitterAllowanceMs?: number;
}

/** ActiveCampaign's documented budgets with the default safety margins. */
export const DEFAULT_RATE_LIMITS: RateLimits = {
  requestsPerSecond: 5,
  bulkImportsPerMinute: 100,
  singleContactImportsPerMinute: 20,
  requestSafety: 0.9,
  bulkSafety: 0.98,
  // Costs nothing in steady state (the schedule already spaces 5 requests over 1,111 ms) and covers the
  // network jitter of a burst after a stall.
  jitterAllowanceMs: 50,
};

/**
 * The budgets every caller uses for an account, from the app's settings (`ACTIVECAMPAIGN_REQUESTS_PER_SECOND`,
 * `ACTIVECAMPAIGN_BULK_IMPORTS_PER_MINUTE`, `ACTIVECAMPAIGN_SINGLE_IMPORTS_PER_MINUTE`), with the default margins.
 */
export function rateLimitsFromConfig(
  config: Pick<
    Config,
    | 'ACTIVECAMPAIGN_REQUESTS_PER_SECOND'
    | 'ACTIVECAMPAIGN_BULK_IMPORTS_PER_MINUTE'
    | 'ACTIVECAMPAIGN_SINGLE_IMPORTS_PER_MINUTE'
  >,
): RateLimits {
  return {
    ...DEFAULT_RATE_LIMITS,
    requestsPerSecond: config.ACTIVECAMPAIGN_REQUESTS_PER_SECOND,
    bulkImportsPerMinute: config.ACTIVECAMPAIGN_BULK_IMPORTS_PER_MINUTE,
    singleContactImportsPerMinute: config.ACTIVECAMPAIGN_SINGLE_IMPORTS_PER_MINUTE,
  };
}

/** The shared state of one account's budget: when each budget next has a free slot (clock ms). */
export interface BudgetState {
  nextRequestAt: number;
  nextBulkAt: number;
  nextSingleAt: number;
}

/** A fresh account: every slot free now. */
export const EMPTY_BUDGET_STATE: BudgetState = { nextRequestAt: 0, nextBulkAt: 0, nextSingleAt: 0 };

/** Minimum spacing between slots of each budget, in ms. */
export function intervalsOf(limits: RateLimits): { request: number; bulk: number; single: number } {
  return {
    request: 1000 / (limits.requestsPerSecond * limits.requestSafety),
    bulk: 60_000 / (limits.bulkImportsPerMinute * limits.bulkSafety),
    single: 60_000 / (limits.singleContactImportsPerMinute * limits.bulkSafety),
  };
}

/** Pure: the earliest slot for `kind` at time `now`, and the state after reserving it. */
export function reserveSlot(
  state: BudgetState,
  kind: BudgetKind,
  now: number,
  limits: RateLimits,
): { slot: number; state: BudgetState } {
  const interval = intervalsOf(limits);
  let slot = Math.max(now, state.nextRequestAt);
  if (kind !== 'request') slot = Math.max(slot, state.nextBulkAt);
  if (kind === 'singleContactImport') slot = Math.max(slot, state.nextSingleAt);
  return {
    slot,
    state: {
      nextRequestAt: slot + interval.request,
      // Single-contact imports are also counted against the multi-contact budget: the stricter reading.
      nextBulkAt: kind === 'request' ? state.nextBulkAt : slot + interval.bulk,
      nextSingleAt: kind === 'singleContactImport' ? slot + interval.single : state.nextSingleAt,
    },
  };
}

/** Pure: the state after ActiveCampaign told us to hold `scope` until `until` (429 Retry-After, bulk 400). */
export function pauseState(state: BudgetState, scope: 'request' | 'bulkImport', until: number): BudgetState {
  return scope === 'request'
    ? { ...state, nextRequestAt: Math.max(state.nextRequestAt, until) }
    : {
        ...state,
        nextBulkAt: Math.max(state.nextBulkAt, until),
        nextSingleAt: Math.max(state.nextSingleAt, until),
      };
}

/**
 * Until when ActiveCampaign told the account to hold each budget (clock ms; 0 = not paused). Kept apart from
 * the slots because a pause must also stop requests that reserved their slot BEFORE it was declared: each
 * checks this just before it is sent, so one rate-limit episode costs one refusal, not one per waiting worker.
 */
export interface PauseState {
  requestUntil: number;
  bulkUntil: number;
}

/** Nothing paused. */
export const NO_PAUSE: PauseState = { requestUntil: 0, bulkUntil: 0 };

/** Pure: the pauses after ActiveCampaign told us to hold `scope` until `until` (never shortened). */
export function withPause(pauses: PauseState, scope: 'request' | 'bulkImport', until: number): PauseState {
  return scope === 'request'
    ? { ...pauses, requestUntil: Math.max(pauses.requestUntil, until) }
    : { ...pauses, bulkUntil: Math.max(pauses.bulkUntil, until) };
}

/** Pure: until when a request of `kind` must hold (a bulk import needs both budgets free). */
export function pausedUntil(pauses: PauseState, kind: BudgetKind): number {
  return kind === 'request' ? pauses.requestUntil : Math.max(pauses.requestUntil, pauses.bulkUntil);
}

/** One account's rate budget, shared by every caller that uses the same instance (or backing store). */
export interface RateBudget {
  /** Waits until a request of `kind` may be sent without exceeding the account's budgets. */
  acquire(kind: BudgetKind, signal?: AbortSignal): Promise<void>;
  /**
   * Holds every user of this budget until `until` (clock ms), because ActiveCampaign said so: callers that
   * reserve later, and callers already waiting for a slot inside the pause (re-checked before sending).
   */
  pause(scope: 'request' | 'bulkImport', until: number): Promise<void>;
}

/**
 * A budget held in this process's memory: exact for all clients of one account in one process.
 * Besides the reservation schedule it remembers when slots were actually used: after an event-loop stall,
 * several callers wake late at once, and the schedule alone would let them all go together. The window check
 * holds them to ActiveCampaign's own sliding limits (5 in any second, 100 / 20 in any minute).
 */
export class InProcessRateBudget implements RateBudget {
  private state: BudgetState = { ...EMPTY_BUDGET_STATE };
  private pauses: PauseState = { ...NO_PAUSE };
  private readonly used = { request: [] as number[], bulk: [] as number[], single: [] as number[] };

  constructor(
    private readonly clock: Clock,
    readonly limits: RateLimits = DEFAULT_RATE_LIMITS,
  ) {}

  /**
   * Reserves synchronously (so concurrent callers never pick the same slot), then sleeps until the slot. Just
   * before returning (i.e. before the request is sent) it re-checks the pauses: a pause declared while this
   * caller waited voids its slot, and it reserves again after the pause instead of going out to be refused.
   */
  async acquire(kind: BudgetKind, signal?: AbortSignal): Promise<void> {
    const jitter = Math.max(0, this.limits.jitterAllowanceMs ?? 0);
    const windows: [number[], number, number][] = [
      [this.used.request, Math.floor(this.limits.requestsPerSecond) || 1, 1000 + jitter],
    ];
    if (kind !== 'request')
      windows.push([this.used.bulk, Math.floor(this.limits.bulkImportsPerMinute) || 1, 60_000 + jitter]);
    if (kind === 'singleContactImport') {
      windows.push([
        this.used.single,
        Math.floor(this.limits.singleContactImportsPerMinute) || 1,
        60_000 + jitter,
      ]);
    }
    for (;;) {
      const { slot, state } = reserveSlot(this.state, kind, this.clock.now(), this.limits);
      this.state = state;
      await sleepUntil(this.clock, slot, signal);
      for (;;) {
        const now = this.clock.now();
        const freeAt = Math.max(
          ...windows.map(([used, limit, span]) => windowFreeAt(used, limit, span, now)),
        );
        if (freeAt <= now) break;
        await sleepUntil(this.clock, freeAt, signal);
      }
      // Paused while we waited: `pause` already moved the schedule past the pause, so reserve again.
      if (pausedUntil(this.pauses, kind) > this.clock.now()) continue;
      const now = this.clock.now();
      for (const [used] of windows) used.push(now);
      return;
    }
  }

  /** Pushes the next free slot of `scope` to at least `until`, and holds callers already past reserving. */
  pause(scope: 'request' | 'bulkImport', until: number): Promise<void> {
    this.state = pauseState(this.state, scope, until);
    this.pauses = withPause(this.pauses, scope, until);
    return Promise.resolve();
  }
}

/** When one more use fits a sliding window of `limit` uses per `span` ms; prunes `used` in place. */
function windowFreeAt(used: number[], limit: number, span: number, now: number): number {
  while (used.length > 0 && (used[0] ?? 0) <= now - span) used.shift();
  return used.length < limit ? now : (used[used.length - limit] ?? now) + span;
}

const registry = new Map<string, InProcessRateBudget>();

/**
 * The one in-process budget for an account host, so every client instance for that account in this process
 * paces together. The first caller's clock and limits win (they come from the same config in practice).
 */
export function inProcessRateBudgetFor(
  host: string,
  clock: Clock,
  limits: RateLimits = DEFAULT_RATE_LIMITS,
): RateBudget {
  const key = host.trim().toLowerCase();
  let budget = registry.get(key);
  if (!budget) {
    budget = new InProcessRateBudget(clock, limits);
    registry.set(key, budget);
  }
  return budget;
}
