import { describe, expect, it } from 'vitest';

import type { Clock } from '../../../../shared/adapters/activecampaign/clock';
import {
  DEFAULT_RATE_LIMITS,
  EMPTY_BUDGET_STATE,
  InProcessRateBudget,
  inProcessRateBudgetFor,
  intervalsOf,
  NO_PAUSE,
  pausedUntil,
  pauseState,
  rateLimitsFromConfig,
  reserveSlot,
  withPause,
} from '../../../../shared/adapters/activecampaign/rateBudget';

const exact = { ...DEFAULT_RATE_LIMITS, requestSafety: 1, bulkSafety: 1 };

describe('reserveSlot', () => {
  it('spaces requests 1/rps apart when they are asked for at the same instant', () => {
    let state = EMPTY_BUDGET_STATE;
    const slots: number[] = [];
    for (let i = 0; i < 6; i++) {
      const r = reserveSlot(state, 'request', 1000, exact);
      slots.push(r.slot);
      state = r.state;
    }
    expect(slots).toEqual([1000, 1200, 1400, 1600, 1800, 2000]);
  });

  it('spaces bulk imports 60/perMinute seconds apart and takes a request slot too', () => {
    let state = EMPTY_BUDGET_STATE;
    const a = reserveSlot(state, 'bulkImport', 0, exact);
    state = a.state;
    const b = reserveSlot(state, 'bulkImport', 0, exact);
    const poll = reserveSlot(b.state, 'request', 0, exact);
    expect([a.slot, b.slot]).toEqual([0, 600]);
    expect(poll.slot).toBe(800);
  });

  it('paces single-contact imports at 20 per minute', () => {
    const first = reserveSlot(EMPTY_BUDGET_STATE, 'singleContactImport', 0, exact);
    const second = reserveSlot(first.state, 'singleContactImport', 0, exact);
    expect(second.slot).toBe(3000);
  });

  it('uses now when the budget has been idle', () => {
    expect(
      reserveSlot({ nextRequestAt: 5, nextBulkAt: 5, nextSingleAt: 5 }, 'bulkImport', 10_000, exact).slot,
    ).toBe(10_000);
  });

  it('widens the intervals by the safety margins', () => {
    expect(intervalsOf(DEFAULT_RATE_LIMITS).bulk).toBeCloseTo(60_000 / 98);
    expect(intervalsOf(DEFAULT_RATE_LIMITS).request).toBeCloseTo(1000 / 4.5);
  });
});

describe('pauseState', () => {
  it('pushes only the request slot when the requests budget is paused', () => {
    expect(pauseState(EMPTY_BUDGET_STATE, 'request', 900)).toEqual({
      nextRequestAt: 900,
      nextBulkAt: 0,
      nextSingleAt: 0,
    });
  });

  it('pushes both bulk slots and never moves a slot backwards', () => {
    const state = { nextRequestAt: 0, nextBulkAt: 2000, nextSingleAt: 0 };
    expect(pauseState(state, 'bulkImport', 1000)).toEqual({
      nextRequestAt: 0,
      nextBulkAt: 2000,
      nextSingleAt: 1000,
    });
  });
});

describe('InProcessRateBudget', () => {
  it('hands concurrent callers distinct, spaced slots when they acquire at once', async () => {
    const wakeAt: number[] = [];
    const clock: Clock = {
      now: () => 0,
      sleep: (ms) => {
        wakeAt.push(ms);
        return Promise.reject(new Error('stop after recording the wait'));
      },
    };
    const budget = new InProcessRateBudget(clock, exact);
    const results = await Promise.allSettled([0, 1, 2].map(() => budget.acquire('request')));
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'rejected']);
    expect(wakeAt).toEqual([200, 400]);
  });

  it('returns the same budget for every client of one host', () => {
    const clock: Clock = { now: () => 0, sleep: () => Promise.resolve() };
    expect(inProcessRateBudgetFor('Acme.api-us1.com', clock)).toBe(
      inProcessRateBudgetFor('acme.api-us1.com', clock),
    );
    expect(inProcessRateBudgetFor('other.api-us1.com', clock)).not.toBe(
      inProcessRateBudgetFor('acme.api-us1.com', clock),
    );
  });
});

describe('pausedUntil', () => {
  it('holds a bulk import for either pause and a plain request only for the request pause', () => {
    const pauses = withPause(withPause(NO_PAUSE, 'bulkImport', 5000), 'request', 2000);
    expect(pausedUntil(pauses, 'bulkImport')).toBe(5000);
    expect(pausedUntil(pauses, 'singleContactImport')).toBe(5000);
    expect(pausedUntil(pauses, 'request')).toBe(2000);
  });

  it('never shortens a pause when a shorter one is declared later', () => {
    expect(withPause({ requestUntil: 0, bulkUntil: 9000 }, 'bulkImport', 4000).bulkUntil).toBe(9000);
  });
});

describe('InProcessRateBudget.pause', () => {
  it('sends a caller that reserved before the pause only after the pause when the pause comes while it waits', async () => {
    let now = 0;
    const clock: Clock = {
      now: () => now,
      sleep: (ms) => {
        now += ms;
        return Promise.resolve();
      },
    };
    const budget = new InProcessRateBudget(clock, exact);
    await budget.acquire('bulkImport'); // slot 0
    // The next caller reserves slot 600, then (while it waits) ActiveCampaign refuses someone: hold until 60,000.
    const waiting = budget.acquire('bulkImport');
    await budget.pause('bulkImport', 60_000);
    await waiting;
    expect(now).toBeGreaterThanOrEqual(60_000);
  });
});

describe('rateLimitsFromConfig', () => {
  it('takes all three budgets from the settings and keeps the default margins', () => {
    const limits = rateLimitsFromConfig({
      ACTIVECAMPAIGN_REQUESTS_PER_SECOND: 4,
      ACTIVECAMPAIGN_BULK_IMPORTS_PER_MINUTE: 50,
      ACTIVECAMPAIGN_SINGLE_IMPORTS_PER_MINUTE: 10,
    });
    expect(limits).toEqual({
      ...DEFAULT_RATE_LIMITS,
      requestsPerSecond: 4,
      bulkImportsPerMinute: 50,
      singleContactImportsPerMinute: 10,
    });
  });
});
