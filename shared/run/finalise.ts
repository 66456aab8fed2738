/**
 * The Finalise activity: collects what reconciling settled (and what was never sent, when a run stopped
 * early), moves the export's snapshot forward only for contacts ActiveCampaign confirmed (so everything
 * else is sent again next run), writes `failed.csv` and `report.json`, records the final status on the run's
 * row and releases the export: the follow-up run asked for meanwhile (one at most) is started here.
 */
import { rejectedBlobName, runFolder, sliceBlobName } from '../adapters/blob/runFolder';
import { readSlice } from '../adapters/blob/slices';
import { advanceExportSnapshot } from '../adapters/blob/snapshotStore';
import type { ExportRecord } from '../domain/records/exportDefinition';
import { csvCell, REJECTED_CSV_HEADER } from '../domain/segments/rejectedRows';
import { emitExportRunFailed } from '../telemetry';
import type { RunDeps, RunLogger } from './deps';
import { FinaliseInput, type RunOutput, type RunStatus } from './payloads';
import { failureCode, REPORT_FAILED_CONTACTS, RunReport } from './report';
import { failedBlobName, readSliceResults, reportBlobName, uploadText } from './runBlobs';
import { releaseExport, type StartOrchestration } from './startRun';

/** Runs Finalise; `start` starts the follow-up orchestration, if one was asked for. */
export async function finaliseRun(
  rawInput: unknown,
  deps: RunDeps,
  start: StartOrchestration,
  logger?: RunLogger,
): Promise<RunOutput> {
  const input = FinaliseInput.parse(rawInput);
  const { run, prepare, stop } = input;
  const finaliseStarted = deps.now();
  const folder = runFolder(run.exportId, run.runId);
  const { record: definition } = await deps.records.exports.get(run.exportId);

  const settled = await collectSettled(deps, input, folder);
  const { upserted, unsubscribed, failed } = settled;
  if (upserted.length + unsubscribed.length > 0) {
    await advanceExportSnapshot(deps.work, {
      exportId: run.exportId,
      runId: run.runId,
      confirmedEmails: [...upserted, ...unsubscribed],
    });
  }
  const counts = prepare?.counts;
  const status: RunStatus = stop
    ? stop.status
    : failed.length > 0 || (counts?.rejected ?? 0) > 0
      ? 'succeededWithRejections'
      : 'succeeded';
  await writeFailedCsv(deps, folder, failed);

  const report = buildReport(input, definition, settled, status, folder, finaliseStarted, deps.now());
  await uploadText(deps.work, reportBlobName(folder), JSON.stringify(report, null, 2), 'application/json');

  await recordFinalStatus(deps, input, report, status, logger);
  const followUpRunId = run.dryRun ? undefined : await releaseExport(deps, run, start);
  return {
    runId: run.runId,
    status,
    reportBlob: reportBlobName(folder),
    ...(followUpRunId ? { followUpRunId } : {}),
  };
}

/** What every slice's results say (and, for a run that stopped early, the contacts never sent). */
async function collectSettled(deps: RunDeps, input: FinaliseInput, folder: string): Promise<Settled> {
  const { run, prepare, stop } = input;
  const upserted: string[] = [];
  const unsubscribed: string[] = [];
  const failed: FailedContact[] = [];
  let notSent = 0;
  let mayHaveBeenAppliedTwice = 0;
  const slices = prepare?.ok && !run.dryRun ? prepare.slices : 0;
  for (let n = 1; n <= slices; n++) {
    const results = await readSliceResults(deps.work, folder, n);
    let staged: Awaited<ReturnType<typeof readSlice>> | undefined;
    const requests = Object.keys(results.requests).length;
    if (requests === 0 || stop) staged = await readSlice(deps.work, sliceBlobName(folder, n));
    const count = staged ? staged.requests.length : requests;
    for (let i = 0; i < count; i++) {
      const settled = results.requests[String(i)];
      if (settled) {
        upserted.push(...settled.upserted);
        unsubscribed.push(...settled.unsubscribed);
        failed.push(...settled.failed);
        if (settled.mayBeAppliedTwice)
          mayHaveBeenAppliedTwice += settled.upserted.length + settled.unsubscribed.length;
        continue;
      }
      // Never sent (the run stopped first): reported, and sent next run (the snapshot keeps them unconfirmed).
      for (const contact of staged?.requests[i]?.body.contacts ?? []) {
        const unsubscribe = Array.isArray(contact.unsubscribe) && contact.unsubscribe.length > 0;
        if (!unsubscribe) notSent++;
        failed.push({
          email: String(contact.email),
          reason: `not sent: ${stop?.reason ?? 'the run stopped before this request'}`,
          ...(unsubscribe ? { unsubscribe: true } : {}),
        });
      }
    }
  }
  return { upserted, unsubscribed, failed, notSent, mayHaveBeenAppliedTwice };
}

/** The contacts of a run, by what became of them. */
interface Settled {
  upserted: string[];
  unsubscribed: string[];
  failed: FailedContact[];
  /** Upserts never sent (the run stopped first). */
  notSent: number;
  mayHaveBeenAppliedTwice: number;
}

/** A contact that ActiveCampaign did not confirm, with why. */
interface FailedContact {
  email: string;
  reason: string;
  unsubscribe?: boolean;
}

/** Writes `failed.csv`: every contact ActiveCampaign did not confirm, in the rejected rows' columns. */
async function writeFailedCsv(
  deps: RunDeps,
  folder: string,
  failed: readonly FailedContact[],
): Promise<void> {
  await uploadText(
    deps.work,
    failedBlobName(folder),
    REJECTED_CSV_HEADER +
      failed
        .map((f) => `ActiveCampaign,,${csvCell(f.email)},${failureCode(f.reason)},${csvCell(f.reason)}\r\n`)
        .join(''),
    'text/csv; charset=utf-8',
  );
}

/** The run's report, from what Prepare counted, what every slice settled and the stages' times. */
function buildReport(
  input: FinaliseInput,
  definition: ExportRecord,
  settled: Settled,
  status: RunStatus,
  folder: string,
  finaliseStarted: number,
  finishedAt: number,
): RunReport {
  const { run, prepare, stop } = input;
  const { upserted, unsubscribed, failed, notSent, mayHaveBeenAppliedTwice } = settled;
  const counts = prepare?.counts;
  // Upserts ActiveCampaign was asked for but did not confirm (the never-sent ones are `notSent`).
  const sentFailed = failed.filter((f) => !f.unsubscribe).length - notSent;
  const totals = input.slices.reduce(
    (t, s) => ({
      bulkImport: t.bulkImport + s.bulkImport,
      importInfo: t.importInfo + s.importInfo,
      throttled: t.throttled + s.throttled,
      resubmits: t.resubmits + s.resubmits,
      ambiguousResends: t.ambiguousResends + s.ambiguousResends,
    }),
    { bulkImport: 0, importInfo: 0, throttled: 0, resubmits: 0, ambiguousResends: 0 },
  );
  const toSend = run.dryRun ? 0 : (counts?.toSend ?? 0);
  return RunReport.parse({
    version: 1,
    exportId: run.exportId,
    exportName: definition.name,
    runId: run.runId,
    trigger: run.trigger,
    dryRun: run.dryRun,
    fullResync: run.fullResync,
    membership: definition.membership,
    listId: definition.listId,
    status,
    ...(stop ? { code: stop.code, reason: stop.reason } : {}),
    startedAt: input.startedAt,
    finishedAt: new Date(finishedAt).toISOString(),
    durationMs: finishedAt - Date.parse(input.startedAt),
    stages: {
      prepareMs: input.stageMs.prepare,
      pushMs: input.stageMs.push,
      reconcileMs: input.stageMs.reconcile,
      finaliseMs: finishedAt - finaliseStarted,
    },
    counts: {
      rows: counts?.rows ?? 0,
      valid: counts?.valid ?? 0,
      rejected: counts?.rejected ?? 0,
      duplicates: counts?.duplicates ?? 0,
      unchanged: counts?.unchanged ?? 0,
      sent: toSend - notSent,
      confirmed: upserted.length,
      failed: sentFailed,
      notSent: run.dryRun ? (counts?.toSend ?? 0) : notSent,
      unsubscribed: unsubscribed.length,
      unsubscribeFailed: failed.filter((f) => f.unsubscribe).length,
    },
    plan: {
      adds: counts?.added ?? 0,
      updates: counts?.changed ?? 0,
      unchanged: counts?.unchanged ?? 0,
      unsubscribes: counts?.toUnsubscribe ?? 0,
      rejects: counts?.rejected ?? 0,
      duplicates: counts?.duplicates ?? 0,
    },
    rejectedByReason: counts?.rejectedByReason ?? {},
    requests: totals,
    mayHaveBeenAppliedTwice,
    failedContacts: failed.slice(0, REPORT_FAILED_CONTACTS).map(({ email, reason }) => ({ email, reason })),
    files: { rejected: rejectedBlobName(folder), failed: failedBlobName(folder) },
  });
}

/** Records the final status on the run's row; a failed run emits `ExportRunFailed`, any other logs its counts. */
async function recordFinalStatus(
  deps: RunDeps,
  input: FinaliseInput,
  report: RunReport,
  status: RunStatus,
  logger: RunLogger | undefined,
): Promise<void> {
  const { run } = input;
  const record = await deps.runs.getRun(run.exportId, run.runId).catch(() => undefined);
  await deps.runs.updateRun({
    ...(record ?? {
      runId: run.runId,
      exportId: run.exportId,
      trigger: run.trigger,
      dryRun: run.dryRun,
      fullResync: run.fullResync,
      requestedBy: run.requestedBy,
      startedAt: input.startedAt,
    }),
    status,
    finishedAt: report.finishedAt,
    durationMs: report.durationMs,
    counts: { ...report.counts },
    ...(report.reason ? { reason: report.reason } : {}),
  });
  if (status === 'failed' && logger) {
    // The one structured event a failed run emits (the deployment's alert rule matches it: infra/main.json).
    emitExportRunFailed(logger, {
      exportId: run.exportId,
      runId: run.runId,
      reason: report.reason ?? 'the run failed',
      trigger: run.trigger,
      ...(report.code ? { code: report.code } : {}),
      failedAt: report.finishedAt,
    });
  } else {
    logger?.log(`Export run finished ${status}: ${JSON.stringify(report.counts)}`);
  }
}
