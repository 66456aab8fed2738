/**
 * The run report (`report.json` in the run folder): what a run did, in counts that add up:
 *   rows  = valid + rejected + duplicates      (valid counts distinct contacts)
 *   valid = unchanged + sent + notSent         (notSent: only when a run stopped early)
 *   sent  = confirmed + failed                 (contacts added or updated; unsubscribes are counted apart)
 */
import { z } from 'zod';

import { RunStatus, RunTrigger } from './payloads';

/** The report's schema (the single source of its type; `GET .../report` answers it). */
export const RunReport = z.object({
  version: z.literal(1),
  exportId: z.string(),
  exportName: z.string(),
  runId: z.string(),
  trigger: RunTrigger,
  dryRun: z.boolean(),
  fullResync: z.boolean(),
  membership: z.enum(['add', 'mirror']),
  listId: z.number(),
  status: RunStatus,
  /** Why a run failed or was canceled (or the guard that stopped it). */
  code: z.string().optional(),
  reason: z.string().optional(),
  startedAt: z.string(),
  finishedAt: z.string(),
  durationMs: z.number(),
  stages: z.object({
    prepareMs: z.number(),
    pushMs: z.number(),
    reconcileMs: z.number(),
    finaliseMs: z.number(),
  }),
  counts: z.object({
    rows: z.number(),
    valid: z.number(),
    rejected: z.number(),
    duplicates: z.number(),
    unchanged: z.number(),
    sent: z.number(),
    confirmed: z.number(),
    failed: z.number(),
    notSent: z.number(),
    unsubscribed: z.number(),
    unsubscribeFailed: z.number(),
  }),
  /** What the run set out to do (a dry run's whole answer). */
  plan: z.object({
    adds: z.number(),
    updates: z.number(),
    unchanged: z.number(),
    unsubscribes: z.number(),
    rejects: z.number(),
    duplicates: z.number(),
  }),
  rejectedByReason: z.record(z.string(), z.number()),
  requests: z.object({
    bulkImport: z.number(),
    importInfo: z.number(),
    throttled: z.number(),
    resubmits: z.number(),
    /** Bulk imports resent after their answer was lost (ActiveCampaign may have applied them twice). */
    ambiguousResends: z.number(),
  }),
  /** Contacts in requests resent after a lost answer: they may have been applied twice (harmless upserts). */
  mayHaveBeenAppliedTwice: z.number(),
  /** Contacts ActiveCampaign did not confirm, with its reason (the first 1,000; all are in `files.failed`). */
  failedContacts: z.array(z.object({ email: z.string(), reason: z.string() })),
  files: z.object({ rejected: z.string(), failed: z.string() }),
});
export type RunReport = z.infer<typeof RunReport>;

/** How many failed contacts the report lists inline. */
export const REPORT_FAILED_CONTACTS = 1_000;

/** The `reason` column of a contact ActiveCampaign did not confirm, from its detail. */
export function failureCode(detail: string): string {
  if (detail.startsWith('not sent')) return 'not_sent';
  if (detail.startsWith('outcome unknown')) return 'outcome_unknown';
  if (detail.startsWith('unconfirmed')) return 'unconfirmed';
  return 'rejected_by_activecampaign';
}
