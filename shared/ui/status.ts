/** A run's status in words, as the page shows it (pure: no DOM, unit-tested). */
import type { RunRecord } from '../adapters/tables/runStore';

const WORDS: Record<RunRecord['status'], string> = {
  running: 'Running',
  succeeded: 'Succeeded',
  succeededWithRejections: 'Succeeded with rejections',
  failed: 'Failed',
  canceled: 'Canceled',
};

/** The words for a run status (`succeededWithRejections` → "Succeeded with rejections"). */
export function runStatusWords(status: RunRecord['status']): string {
  return WORDS[status];
}
