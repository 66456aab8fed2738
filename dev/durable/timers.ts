/** Durable timers of the running instances, as Node timers that enqueue `TimerFired` when due. */

/** The longest setTimeout Node accepts; longer timers re-arm. */
const MAX_TIMEOUT_MS = 2_147_000_000;

/** The armed timers, by instance, execution and timer id. */
export class DurableTimers {
  private readonly handles = new Map<string, NodeJS.Timeout>();
  private stopped = false;

  constructor(private readonly clock: () => Date) {}

  /**
   * Calls `onDue` once the clock has reached `fireAt`. A Node timer that fires early by the clock (a
   * wait longer than setTimeout allows, or a clock that is not the wall clock) re-arms.
   */
  arm(instanceId: string, executionId: string, timerId: number, fireAt: string, onDue: () => void): void {
    const key = `${instanceId}\n${executionId}\n${timerId}`;
    const arm = () => {
      const wait = new Date(fireAt).getTime() - this.clock().getTime();
      const handle = setTimeout(
        () => {
          this.handles.delete(key);
          if (this.stopped) return;
          if (new Date(fireAt).getTime() > this.clock().getTime()) {
            arm();
            return;
          }
          onDue();
        },
        Math.max(0, Math.min(wait, MAX_TIMEOUT_MS)),
      );
      this.handles.set(key, handle);
    };
    arm();
  }

  /** Cancels every timer of the instance (any execution). */
  cancel(instanceId: string): void {
    const prefix = `${instanceId}\n`;
    for (const [key, handle] of this.handles)
      if (key.startsWith(prefix)) {
        clearTimeout(handle);
        this.handles.delete(key);
      }
  }

  /** Cancels every timer; none fires afterwards. */
  stop(): void {
    this.stopped = true;
    for (const handle of this.handles.values()) clearTimeout(handle);
    this.handles.clear();
  }
}
