/**
 * The Prepare activity: loads the export, stages its slices and rejected rows (the segment pipeline,
 * adapters/blob/prepareSegments.ts), and applies the guards that stop a run before anything is sent: an
 * export without a connection, a segment snapshot with no rows, a rejected share above
 * `EXPORT_MAX_REJECTED_SHARE`, the profile cap (the pipeline's), and in mirror mode an unsubscribe count
 * above `EXPORT_MIRROR_MAX_UNSUBSCRIBE_SHARE` of the previous snapshot that the caller did not confirm.
 * A guard's refusal is a result (`ok: false`), not an exception, so the run ends with a report saying why.
 */
import { prepareSegments, type PrepareSegmentsResult } from '../adapters/blob/prepareSegments';
import { AppError } from '../errors';
import type { RunDeps, RunLogger } from './deps';
import { type PlanCounts, type PrepareOutput, RunInput } from './payloads';

/** The report's counts from the pipeline's: rows = valid + rejected + duplicates; valid = unchanged + to send. */
export function toPlanCounts(counts: PrepareSegmentsResult['counts']): PlanCounts {
  const duplicates = counts.rejectedByReason.duplicate ?? 0;
  return {
    rows: counts.rows,
    valid: counts.contacts,
    rejected: counts.rejected - duplicates,
    duplicates,
    unchanged: counts.unchanged,
    added: counts.added,
    changed: counts.changed,
    toSend: counts.toUpsert,
    toUnsubscribe: counts.toUnsubscribe,
    rejectedByReason: Object.fromEntries(
      Object.entries(counts.rejectedByReason).filter(([r]) => r !== 'duplicate'),
    ),
  };
}

function topReasons(byReason: Record<string, number>): string {
  return Object.entries(byReason)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 3)
    .map(([reason, n]) => `${reason} ${n}`)
    .join(', ');
}

const ensured = new WeakMap<object, Promise<unknown>>();

/** Creates the work container on first use in this process (a new deployment or local stack has none). */
function ensureContainer(deps: RunDeps): Promise<unknown> {
  let done = ensured.get(deps.work);
  if (!done) {
    done = deps.work.createIfNotExists().catch((error: unknown) => {
      ensured.delete(deps.work);
      throw error;
    });
    ensured.set(deps.work, done);
  }
  return done;
}

/** Runs Prepare for one run; see the module comment. */
export async function prepareRun(
  rawInput: unknown,
  deps: RunDeps,
  logger?: RunLogger,
): Promise<PrepareOutput> {
  const run = RunInput.parse(rawInput);
  const started = deps.now();
  const refuse = (
    code: string,
    reason: string,
    extra: Partial<Extract<PrepareOutput, { ok: false }>> = {},
  ) => ({
    ok: false as const,
    code,
    reason,
    retryable: false,
    durationMs: deps.now() - started,
    ...extra,
  });

  await ensureContainer(deps);
  const { record: definition } = await deps.records.exports.get(run.exportId);
  if (!definition.connectionId) {
    return refuse(
      'export_detached',
      `Export "${definition.name}" has no connection (it was detached); give it one to run it`,
    );
  }
  await deps.records.connections.get(definition.connectionId);

  let result: PrepareSegmentsResult;
  try {
    result = await prepareSegments(
      {
        exportId: run.exportId,
        runId: run.runId,
        segments: definition.segments,
        mapping: definition.mapping,
        listId: definition.listId,
        membership: definition.membership,
        fullResync: run.fullResync,
        profileCap: deps.config.EXPORT_PROFILE_CAP,
      },
      { segmentContainer: deps.segments, workContainer: deps.work, now: () => deps.now() },
    );
  } catch (error) {
    // Bad files, the cap, a missing segment, an incomplete snapshot: the run ends with the reason, nothing sent.
    if (error instanceof AppError) {
      logger?.warn(`Prepare stopped the run: ${error.code}: ${error.message}`);
      return refuse(error.code, error.message, { retryable: error.retryable });
    }
    throw error;
  }
  const counts = toPlanCounts(result.counts);
  logger?.log(
    `Prepared ${result.slices.count} slices (${result.counts.requests} requests): ${JSON.stringify(counts)} in ${result.durationMs} ms`,
  );
  const base = { counts, durationMs: deps.now() - started };

  const empty = result.segments.filter((s) => s.files.length === 0);
  if (counts.rows === 0 || empty.length > 0) {
    const named = (empty.length ? empty : result.segments)
      .map(
        (s) =>
          `"${s.name}" (${s.files.length ? s.files.join(', ') : 'no partition files'}${s.snapshotFolder ? ` in ${s.snapshotFolder}` : ''})`,
      )
      .join('; ');
    return refuse('guard_empty_snapshot', `Segment snapshot has no rows: ${named}; nothing was sent`, base);
  }
  const maxRejected = deps.config.EXPORT_MAX_REJECTED_SHARE;
  const rejectedShare = counts.rejected / counts.rows;
  if (rejectedShare > maxRejected) {
    const files = result.segments.flatMap((s) => s.files).join(', ');
    return refuse(
      'guard_rejected_share',
      `${counts.rejected} of ${counts.rows} rows (${(rejectedShare * 100).toFixed(1)}%) were rejected, above ` +
        `EXPORT_MAX_REJECTED_SHARE (${(maxRejected * 100).toFixed(1)}%); top reasons: ${topReasons(counts.rejectedByReason)}; ` +
        `files: ${files}. Check the column mapping; nothing was sent`,
      base,
    );
  }
  if (definition.membership === 'mirror' && counts.toUnsubscribe > 0) {
    const previous = result.previousSnapshotContacts;
    const maxShare = deps.config.EXPORT_MIRROR_MAX_UNSUBSCRIBE_SHARE;
    if (counts.toUnsubscribe > previous * maxShare && run.confirmUnsubscribes !== counts.toUnsubscribe) {
      return refuse(
        'guard_unsubscribe_confirmation',
        `Mirror mode would unsubscribe ${counts.toUnsubscribe} of the ${previous} contacts exported last time, more than ` +
          `EXPORT_MIRROR_MAX_UNSUBSCRIBE_SHARE (${(maxShare * 100).toFixed(1)}%); a truncated upload looks like this. ` +
          `Nothing was sent. To go ahead, start the run again with confirmUnsubscribes=${counts.toUnsubscribe}`,
        { ...base, unsubscribesToConfirm: counts.toUnsubscribe },
      );
    }
  }
  return { ok: true, ...base, slices: result.slices.count, requests: result.counts.requests };
}
