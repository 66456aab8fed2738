/**
 * Timer triggers: NCRONTAB with six fields (`{second} {minute} {hour} {day} {month} {day-of-week}`) or a
 * TimeSpan (`hh:mm:ss`), with `%SETTING%` already resolved by the host core, `runOnStartup` honoured and
 * `useMonitor` ignored (no schedule monitor is kept; `scheduleStatus.last` is the previous fire of this
 * process). Schedules run in UTC unless `WEBSITE_TIME_ZONE` names an IANA zone.
 * https://learn.microsoft.com/azure/azure-functions/functions-bindings-timer#ncrontab-expressions
 *
 * The payload is what the host sends (PascalCase JSON; the library camel-cases it into `Timer`).
 * Like the host's singleton timer, one function never runs twice at once: an occurrence that comes due
 * while the previous run is still going is skipped and the next one is marked `IsPastDue`.
 */
import { CronExpressionParser } from 'cron-parser';

import type { LocalFunctionHost } from './functionHost';
import type { InvokeResult, RegisteredFunction } from './types';

/** `0001-01-01T00:00:00`, what the host reports as "never" for `ScheduleStatus.Last`. */
const NEVER = '0001-01-01T00:00:00';
/** setTimeout's maximum delay; longer waits are chained. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/** Next occurrence strictly after `after`. */
export type Schedule = (after: Date) => Date;

/** Parses an NCRONTAB (6 fields) or TimeSpan schedule; fails loudly on anything else. */
export function parseSchedule(expression: string, where: string, timeZone?: string): Schedule {
  const text = expression.trim();
  const timeSpan = /^(?:(\d+)\.)?(\d{1,2}):(\d{2})(?::(\d{2}))?$/.exec(text);
  if (timeSpan) {
    const [, days, hours, minutes, seconds] = timeSpan;
    const ms =
      (((Number(days ?? 0) * 24 + Number(hours)) * 60 + Number(minutes)) * 60 + Number(seconds ?? 0)) * 1000;
    if (ms <= 0) throw new Error(`${where}: the TimeSpan schedule "${text}" must be positive.`);
    return (after) => new Date(after.getTime() + ms);
  }
  const fields = text.split(/\s+/);
  if (fields.length !== 6) {
    throw new Error(
      `${where}: the schedule "${text}" is not a valid NCRONTAB expression: Azure Functions needs six fields ` +
        `({second} {minute} {hour} {day} {month} {day-of-week}) or a TimeSpan like 00:05:00.`,
    );
  }
  const tz = timeZone ?? 'UTC';
  try {
    CronExpressionParser.parse(text, { tz, currentDate: new Date() });
  } catch (err) {
    throw new Error(
      `${where}: the schedule "${text}" is not a valid NCRONTAB expression: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  const [, , , day, , dayOfWeek] = fields;
  if (day === '*' || day === '?' || dayOfWeek === '*' || dayOfWeek === '?') {
    return (after) => CronExpressionParser.parse(text, { tz, currentDate: after }).next().toDate();
  }
  // Both day fields restricted: NCRONTAB (which Azure uses) requires BOTH to match — it finds the next day
  // of the month, then checks the day of the week (atifaziz/NCrontab CrontabSchedule.TryGetNextOccurrence) —
  // where cron-parser, like Vixie cron, fires when EITHER matches. Walk the day-of-month schedule and keep
  // the occurrences whose day of the week also matches.
  const weekdays = new Set<number>(
    CronExpressionParser.parse(text, { tz }).fields.dayOfWeek.values.map((d) => Number(d) % 7),
  );
  const byDay = [...fields.slice(0, 5), '*'].join(' ');
  return (after) => {
    let from = after;
    // 28 years hold every date/weekday combination; the bound only stops a schedule that never fires.
    for (let i = 0; i < 28 * 12 * 31; i += 1) {
      const next = CronExpressionParser.parse(byDay, { tz, currentDate: from }).next();
      if (weekdays.has(next.getDay())) return next.toDate();
      // Wrong weekday: nothing else that day can match, so go on from its last second (as NCrontab does).
      next.setHours(23);
      next.setMinutes(59);
      next.setSeconds(59);
      from = next.toDate();
    }
    throw new Error(`${where}: the schedule "${text}" never fires.`);
  };
}

/** The timer payload the host sends (the library camel-cases the keys). */
export function timerPayload(last: Date | undefined, next: Date, isPastDue: boolean, now: Date): unknown {
  return {
    Schedule: { AdjustForDST: true },
    ScheduleStatus: {
      Last: last ? last.toISOString() : NEVER,
      Next: next.toISOString(),
      LastUpdated: now.toISOString(),
    },
    IsPastDue: isPastDue,
  };
}

export interface TimerSchedulerOptions {
  host: LocalFunctionHost;
  /** IANA time zone for schedules (from WEBSITE_TIME_ZONE); UTC when omitted. */
  timeZone?: string;
  /** Injected clock for tests. */
  now?: () => Date;
}

interface TimerState {
  fn: RegisteredFunction;
  schedule: Schedule;
  last?: Date;
  next: Date;
  running?: Promise<InvokeResult | undefined>;
  pastDue: boolean;
  handle?: NodeJS.Timeout;
}

/** Schedules every timer function of the host. */
export class TimerScheduler {
  readonly #host: LocalFunctionHost;
  readonly #now: () => Date;
  readonly #timers = new Map<string, TimerState>();
  #stopped = false;

  constructor(options: TimerSchedulerOptions) {
    this.#host = options.host;
    this.#now = options.now ?? (() => new Date());
    for (const fn of options.host.functions()) {
      if (fn.trigger.type !== 'timerTrigger') continue;
      const where = `Function "${fn.name}"`;
      if (typeof fn.trigger.schedule !== 'string')
        throw new Error(`${where}: the timer trigger has no schedule.`);
      const schedule = parseSchedule(fn.trigger.schedule, where, options.timeZone);
      this.#timers.set(fn.name, { fn, schedule, next: schedule(this.#now()), pastDue: false });
    }
  }

  /** Names of the scheduled functions. */
  names(): string[] {
    return [...this.#timers.keys()];
  }

  /** The next planned occurrence of a timer function. */
  nextOccurrence(name: string): Date | undefined {
    return this.#timers.get(name)?.next;
  }

  /** Arms every timer and fires the `runOnStartup` ones once. */
  start(): void {
    for (const state of this.#timers.values()) {
      this.#host.logger({
        level: 'information',
        category: 'host',
        functionName: state.fn.name,
        message: `Timer schedule "${String(state.fn.trigger.schedule)}"; next occurrence ${state.next.toISOString()}`,
      });
      if (state.fn.trigger.runOnStartup === true)
        void this.#fire(state, 'Timer fired at startup (runOnStartup).');
      this.#arm(state);
    }
  }

  /** Fires a timer function now (like `POST /admin/functions/{name}`); resolves with its result. */
  fireNow(name: string): Promise<InvokeResult | undefined> {
    const state = this.#timers.get(name);
    if (!state) throw new Error(`No timer function named "${name}".`);
    return this.#fire(state, 'This function was programmatically called via the host APIs.', true);
  }

  /** Stops scheduling and waits for running invocations. */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const state of this.#timers.values()) clearTimeout(state.handle);
    await Promise.allSettled([...this.#timers.values()].map((s) => s.running ?? Promise.resolve(undefined)));
  }

  #arm(state: TimerState): void {
    if (this.#stopped) return;
    const delay = Math.max(0, state.next.getTime() - this.#now().getTime());
    state.handle = setTimeout(
      () => {
        if (state.next.getTime() > this.#now().getTime()) {
          this.#arm(state); // a chained wait for a far occurrence
          return;
        }
        const due = state.next;
        state.next = state.schedule(maxDate(due, this.#now()));
        if (state.running) {
          state.pastDue = true;
        } else {
          void this.#fire(state, `Timer fired at ${due.toISOString()}`);
        }
        this.#arm(state);
      },
      Math.min(delay, MAX_TIMEOUT_MS),
    );
    state.handle.unref?.();
  }

  #fire(state: TimerState, reason: string, propagate = false): Promise<InvokeResult | undefined> {
    const now = this.#now();
    const payload = timerPayload(state.last, state.next, state.pastDue, now);
    state.pastDue = false;
    state.last = now;
    const run = this.#host
      .invoke(state.fn.name, payload, { reason })
      .catch((err: unknown) => {
        // The host core already logged the failure with its stack; a scheduled timer just moves on.
        if (propagate) throw err;
        return undefined;
      })
      .finally(() => {
        if (state.running === run) state.running = undefined;
      });
    state.running = run;
    return run;
  }
}

function maxDate(a: Date, b: Date): Date {
  return a.getTime() >= b.getTime() ? a : b;
}
