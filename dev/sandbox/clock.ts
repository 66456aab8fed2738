/**
 * A scaled clock shared by the sandbox and the clients under test: with `timeScale` 60 a sandbox minute
 * passes in one real second, so ActiveCampaign's per-minute budgets, Retry-After seconds and batch
 * processing times all shrink together and stay consistent with each other.
 */
import { performance } from 'node:perf_hooks';

import { type Clock, sleepReal } from '../../shared/adapters/activecampaign/clock';

/** A clock whose time runs `timeScale` times faster than the wall clock, starting at the current time. */
export interface ScaledClock extends Clock {
  readonly timeScale: number;
  /** Converts a duration in this clock's time to real milliseconds. */
  toReal(ms: number): number;
}

/** Creates a clock running `timeScale` times faster than real time (1 = real time). */
export function createScaledClock(timeScale = 1): ScaledClock {
  if (!(timeScale > 0)) throw new RangeError('timeScale must be positive');
  const startWall = Date.now();
  const startPerf = performance.now();
  return {
    timeScale,
    now: () => startWall + (performance.now() - startPerf) * timeScale,
    sleep: (ms, signal) => sleepReal(ms / timeScale, signal),
    toReal: (ms) => ms / timeScale,
  };
}
