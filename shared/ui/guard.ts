/** The mirror guard as the page reads it from a run's report (pure: no DOM, unit-tested). */
import type { RunReport } from '../run/report';

/** The unsubscribe count a mirror guard asks to confirm (`confirmUnsubscribes=<n>` in its reason), if any. */
export function unsubscribesToConfirm(report: Pick<RunReport, 'code' | 'reason'>): number | undefined {
  if (report.code !== 'guard_unsubscribe_confirmation') return undefined;
  const match = /confirmUnsubscribes=(\d+)/.exec(report.reason ?? '');
  return match ? Number(match[1]) : undefined;
}
