/**
 * Time as the ActiveCampaign client sees it. Injected so tests and the sandbox can share one scaled
 * clock (a "minute" of ActiveCampaign budget passing in a second) without monkey-patching timers.
 */

/** Current time and cancellable waiting, in milliseconds of the clock's own time base. */
export interface Clock {
  /** Milliseconds since the Unix epoch in this clock's time base. */
  now(): number;
  /** Resolves after `ms` of this clock's time; rejects with the signal's reason if it aborts first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** Wall-clock time and real timers. */
export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) => sleepReal(ms, signal),
};

/**
 * A clock running `timeScale` times faster than the wall clock (a time-scaled sandbox's minute of budget
 * passing in 60/timeScale real seconds), so Retry-After, the bulk minute and timeouts keep their meaning.
 */
export function scaledClock(timeScale: number): Clock {
  if (!(timeScale > 0)) throw new RangeError('timeScale must be positive');
  if (timeScale === 1) return systemClock;
  const startWall = Date.now();
  const startPerf = performance.now();
  return {
    now: () => startWall + (performance.now() - startPerf) * timeScale,
    sleep: (ms, signal) => sleepReal(ms / timeScale, signal),
  };
}

/** A real-timer sleep that honours an AbortSignal. */
export function sleepReal(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason as Error);
    };
    const timer = setTimeout(
      () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      },
      Math.max(0, ms),
    );
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Sleeps until `clock.now() >= at`, re-checking after waking because timers may fire early. */
export async function sleepUntil(clock: Clock, at: number, signal?: AbortSignal): Promise<void> {
  for (let remaining = at - clock.now(); remaining > 0; remaining = at - clock.now()) {
    await clock.sleep(remaining, signal);
  }
}
