/**
 * The run's progress as the CLI shows it: on a terminal a progress bar (cli-progress) with the stage,
 * contacts confirmed of total, rate and ETA; when piped, one plain line per stage and every ~10 s.
 */
import { Presets, SingleBar } from 'cli-progress';

import type { RunStatusView } from './managementApi';

export interface ProgressDisplay {
  update(view: RunStatusView): void;
  /** Ends the display (the bar's last state stays on screen). */
  stop(): void;
}

/** `12 s`, `3 min 4 s`, `1 h 2 min`, or `?`. */
export function formatDuration(seconds: number | null): string {
  if (seconds === null) return '?';
  if (seconds < 60) return `${Math.round(seconds)} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(seconds / 3600)} h ${Math.round((seconds % 3600) / 60)} min`;
}

/** One plain line describing a run's state. */
export function describeProgress(view: RunStatusView): string {
  const p = view.progress;
  const total = p.total === null ? '?' : String(p.total);
  const rate = p.ratePerSecond === null ? '' : `, ${p.ratePerSecond}/s`;
  const eta = p.etaSeconds === null ? '' : `, ETA ${formatDuration(p.etaSeconds)}`;
  const percent = p.percent === null ? '' : ` (${p.percent}%)`;
  return `stage ${view.stage}: ${p.confirmed} of ${total} contacts confirmed${percent}${p.failed ? `, ${p.failed} failed` : ''}${rate}${eta}`;
}

/** A bar on a TTY, plain lines otherwise. */
export function createProgressDisplay(
  out: NodeJS.WriteStream,
  options: { intervalMs?: number; now?: () => number } = {},
): ProgressDisplay {
  return out.isTTY
    ? barDisplay(out)
    : lineDisplay(out, options.intervalMs ?? 10_000, options.now ?? Date.now);
}

function barDisplay(out: NodeJS.WriteStream): ProgressDisplay {
  const bar = new SingleBar(
    {
      stream: out,
      format: '{stage} [{bar}] {percentage}% | {value}/{total} contacts | {rate} | ETA {eta}',
      hideCursor: true,
      clearOnComplete: false,
      barsize: 30,
    },
    Presets.shades_classic,
  );
  let started = false;
  return {
    update(view) {
      const p = view.progress;
      const payload = {
        stage: view.stage.padEnd(9),
        rate: p.ratePerSecond === null ? '-/s' : `${p.ratePerSecond}/s`,
        eta: formatDuration(p.etaSeconds),
      };
      const total = p.total ?? 0;
      const value = Math.min(p.confirmed + p.failed, total);
      if (!started) {
        bar.start(total, value, payload);
        started = true;
      } else {
        bar.setTotal(total);
        bar.update(value, payload);
      }
    },
    stop() {
      if (started) bar.stop();
    },
  };
}

function lineDisplay(out: NodeJS.WriteStream, intervalMs: number, now: () => number): ProgressDisplay {
  let lastStage: string | undefined;
  let lastAt = 0;
  return {
    update(view) {
      const at = now();
      if (view.stage === lastStage && at - lastAt < intervalMs) return;
      lastStage = view.stage;
      lastAt = at;
      out.write(`${describeProgress(view)}\n`);
    },
    stop() {},
  };
}
