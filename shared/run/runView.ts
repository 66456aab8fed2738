/**
 * What `GET /api/exports/{id}/runs/{runId}` answers: the run's row, and while it runs, its progress from the
 * orchestration's custom status, with a rate and an ETA.
 */
import { z } from 'zod';

import { RunRecord } from '../adapters/tables/runStore';
import { RunProgress, RunStage } from './payloads';

/** A run as the API shows it. */
export const RunView = RunRecord.extend({
  stage: RunStage,
  progress: z.object({
    /** Contacts to send (adds, updates and unsubscribes); known once Prepare is done. */
    total: z.number().nullable(),
    confirmed: z.number(),
    failed: z.number(),
    /** Settled share of `total`, 0-100. */
    percent: z.number().nullable(),
    /** Contacts settled per second since pushing began. */
    ratePerSecond: z.number().nullable(),
    etaSeconds: z.number().nullable(),
    slices: z.number().nullable(),
    slicesPushed: z.number(),
    slicesReconciled: z.number(),
  }),
  links: z.object({ self: z.string(), report: z.string(), rejected: z.string(), cancel: z.string() }),
});
export type RunView = z.infer<typeof RunView>;

/** Pure: the view of a run from its row, the orchestration's custom status (if any) and the time now. */
export function toRunView(record: RunRecord, customStatus: unknown, now: number, baseUrl: string): RunView {
  const parsed = RunProgress.safeParse(customStatus);
  const progress = parsed.success ? parsed.data : undefined;
  const finished = record.status !== 'running';
  const total = finished
    ? (record.counts?.sent ?? 0) +
      (record.counts?.unsubscribed ?? 0) +
      (record.counts?.unsubscribeFailed ?? 0)
    : (progress?.total ?? null);
  const confirmed = finished
    ? (record.counts?.confirmed ?? 0) + (record.counts?.unsubscribed ?? 0)
    : (progress?.confirmed ?? 0);
  const failed = finished
    ? (record.counts?.failed ?? 0) + (record.counts?.unsubscribeFailed ?? 0)
    : (progress?.failed ?? 0);
  const settled = confirmed + failed;
  const percent = finished
    ? 100
    : total
      ? Math.min(100, Math.round((settled / total) * 1000) / 10)
      : total === 0
        ? 100
        : null;
  const elapsed = progress?.pushStartedAt ? (now - Date.parse(progress.pushStartedAt)) / 1000 : 0;
  const rate = !finished && elapsed > 0 && settled > 0 ? settled / elapsed : null;
  const eta =
    rate && total !== null ? Math.max(0, Math.round((total - settled) / rate)) : finished ? 0 : null;
  const self = `${baseUrl}/api/exports/${encodeURIComponent(record.exportId)}/runs/${encodeURIComponent(record.runId)}`;
  return {
    ...record,
    stage: finished ? 'done' : (progress?.stage ?? 'queued'),
    progress: {
      total,
      confirmed,
      failed,
      percent,
      ratePerSecond: rate === null ? null : Math.round(rate * 10) / 10,
      etaSeconds: eta,
      slices: progress?.slices ?? null,
      slicesPushed: progress?.slicesPushed ?? 0,
      slicesReconciled: progress?.slicesReconciled ?? 0,
    },
    links: { self, report: `${self}/report`, rejected: `${self}/rejected`, cancel: `${self}/cancel` },
  };
}
