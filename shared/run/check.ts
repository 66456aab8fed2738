/**
 * The Check activity: one look at `import/info` for each of a slice's pending batches (in parallel; the
 * client paces them under the account's request budget), turning each answer into settled contacts
 * (`toBatchOutcome`), and recording requests Push could not queue. What is settled is written to the slice's
 * results blob before returning, merged idempotently by request, so a re-run look changes nothing.
 */
import {
  ACTIVECAMPAIGN_SKIPPED_REASON,
  type ActiveCampaignClient,
  type BatchOutcome,
  toBatchOutcome,
} from '../adapters/activecampaign';
import { runFolder, sliceBlobName } from '../adapters/blob/runFolder';
import type { StagedRequest } from '../adapters/blob/slices';
import { AppError, ensureError, isRetryable } from '../errors';
import type { RunDeps, RunLogger } from './deps';
import { CheckSliceInput, type CheckSliceOutput } from './payloads';
import { clientForExport } from './push';
import type { PushLogEntry } from './runBlobs';
import {
  readPushLog,
  readSliceResults,
  type SettledRequest,
  type SliceResults,
  writeSliceResults,
} from './runBlobs';
import { cachedSlice } from './sliceCache';

/** `import/info` looks one Check has in flight at once (see `checkSlice`). */
const LOOKS_AT_ONCE = 2;

/** The reason given for contacts whose request's answer was lost: ActiveCampaign may have applied them. */
export const OUTCOME_UNKNOWN_REASON =
  'outcome unknown: the bulk import was sent but its answer was lost, so ActiveCampaign may have applied it; it is sent again next run';

interface StagedContact {
  email: string;
  unsubscribe: boolean;
}

function contactsOf(request: StagedRequest): StagedContact[] {
  return request.body.contacts.map((c) => ({
    email: String(c.email),
    unsubscribe: Array.isArray(c.unsubscribe) && c.unsubscribe.length > 0,
  }));
}

/** Every contact of a request settled the same way (not confirmed, with one reason). */
function allFailed(
  contacts: StagedContact[],
  attempt: number,
  reason: string,
  batchId?: string,
): SettledRequest {
  return {
    attempt,
    ...(batchId ? { batchId } : {}),
    upserted: [],
    unsubscribed: [],
    failed: contacts.map((c) => ({
      email: c.email,
      reason,
      ...(c.unsubscribe ? { unsubscribe: true } : {}),
    })),
  };
}

/** Counts over a slice's settled requests. */
export function settledCounts(results: SliceResults): CheckSliceOutput['settled'] {
  let confirmed = 0;
  let failed = 0;
  let unsubscribed = 0;
  for (const r of Object.values(results.requests)) {
    confirmed += r.upserted.length;
    unsubscribed += r.unsubscribed.length;
    failed += r.failed.length;
  }
  return { confirmed, failed, unsubscribed };
}

/** Runs one look for one slice; see the module comment. */
export async function checkSlice(
  rawInput: unknown,
  deps: RunDeps,
  logger?: RunLogger,
): Promise<CheckSliceOutput> {
  const input = CheckSliceInput.parse(rawInput);
  const folder = runFolder(input.exportId, input.runId);
  const [slice, { entries: log }, results] = await Promise.all([
    cachedSlice(deps.work, sliceBlobName(folder, input.slice)),
    readPushLog(deps.work, folder, input.slice),
    readSliceResults(deps.work, folder, input.slice),
  ]);
  const staged = (index: number) => {
    const request = slice.requests[index];
    if (!request) throw new Error(`Slice ${input.slice} has no request ${index}`);
    return contactsOf(request);
  };
  const resentAfterLoss = new Set(log.filter((e) => (e.ambiguousResends ?? 0) > 0).map((e) => e.request));
  const settle = (index: number, settled: SettledRequest) => {
    const current = results.requests[String(index)];
    if (current && current.attempt >= settled.attempt) return;
    results.requests[String(index)] = resentAfterLoss.has(index)
      ? { ...settled, mayBeAppliedTwice: true }
      : settled;
  };

  settleUnqueued(log, results, staged, settle);

  const pending: CheckSliceOutput['pending'] = [];
  const resubmit: CheckSliceOutput['resubmit'] = [];
  let importInfo = 0;
  if (input.batches.length > 0) {
    const { client } = await clientForExport(deps, input.exportId, logger);
    const look: BatchLook = { input, client, staged, settle, pending, resubmit, logger, importInfo: 0 };
    // A few looks at a time, not all at once: each takes a slot of the account's request budget, and fifty
    // reserved together would hold the slots that pushing lanes need for their bulk imports (bulk imports
    // count against requests/second too), stalling every push for ~10 s at 5 requests a second.
    const queue = [...input.batches];
    const looker = async () => {
      for (let batch = queue.shift(); batch; batch = queue.shift()) await lookAtBatch(look, batch);
    };
    await Promise.all(Array.from({ length: Math.min(LOOKS_AT_ONCE, queue.length) }, looker));
    importInfo = look.importInfo;
  }
  await writeSliceResults(deps.work, folder, input.slice, results);
  return { pending, resubmit, settled: settledCounts(results), importInfo };
}

/** Requests whose latest attempt Push could not queue: their contacts are settled as not confirmed. */
function settleUnqueued(
  log: PushLogEntry[],
  results: SliceResults,
  staged: (index: number) => StagedContact[],
  settle: (index: number, settled: SettledRequest) => void,
): void {
  const latest = new Map<number, PushLogEntry>();
  for (const entry of log) {
    const seen = latest.get(entry.request);
    if (!seen || entry.attempt >= seen.attempt) latest.set(entry.request, entry);
  }
  for (const entry of latest.values()) {
    if (entry.batchId || results.requests[String(entry.request)]) continue;
    const reason = entry.outcomeUnknown
      ? OUTCOME_UNKNOWN_REASON
      : `not sent: ${entry.error ?? 'unknown error'}`;
    settle(entry.request, allFailed(staged(entry.request), entry.attempt, reason));
  }
}

/** What one Check shares between its looks at a slice's batches. */
interface BatchLook {
  input: CheckSliceInput;
  client: ActiveCampaignClient;
  staged: (index: number) => StagedContact[];
  settle: (index: number, settled: SettledRequest) => void;
  pending: CheckSliceOutput['pending'];
  resubmit: CheckSliceOutput['resubmit'];
  logger: RunLogger | undefined;
  /** `import/info` calls made. */
  importInfo: number;
}

/** One `import/info` look at one batch: settled, left pending, or queued for resubmission. */
async function lookAtBatch(look: BatchLook, batch: CheckSliceInput['batches'][number]): Promise<void> {
  const contacts = look.staged(batch.request);
  const giveUp = (why: string) =>
    look.settle(
      batch.request,
      allFailed(contacts, batch.attempt, `unconfirmed: ${why}; it is sent again next run`, batch.batchId),
    );
  let info;
  try {
    look.importInfo++;
    info = await look.client.getImportInfo(batch.batchId);
  } catch (caught) {
    const error = ensureError(caught);
    if (!(caught instanceof AppError))
      look.logger?.warn(`import/info for batch ${batch.batchId}: ${error.stack ?? error.message}`);
    if (isRetryable(caught) && !look.input.giveUp) look.pending.push(batch);
    else giveUp(`import/info for batch ${batch.batchId} failed: ${error.message}`);
    return;
  }
  const outcome = toBatchOutcome(
    info,
    contacts.map((c) => c.email),
  );
  switch (outcome.state) {
    case 'pending':
      if (look.input.giveUp)
        giveUp(`batch ${batch.batchId} still ${outcome.status} at the reconcile deadline`);
      else look.pending.push(batch);
      return;
    case 'resubmit':
      if (batch.attempt < look.input.maxResubmits)
        look.resubmit.push({ request: batch.request, attempt: batch.attempt });
      else
        look.settle(
          batch.request,
          allFailed(
            contacts,
            batch.attempt,
            `batch ${outcome.status} ${batch.attempt + 1} times at ActiveCampaign; it is sent again next run`,
            batch.batchId,
          ),
        );
      return;
    case 'inconsistent':
      giveUp(outcome.reason);
      return;
    case 'completed':
      look.settle(batch.request, completedRequest(batch, contacts, outcome));
      return;
  }
}

/** A completed batch's request settled: each contact upserted, unsubscribed, or failed with its reason. */
function completedRequest(
  batch: CheckSliceInput['batches'][number],
  contacts: StagedContact[],
  outcome: Extract<BatchOutcome, { state: 'completed' }>,
): SettledRequest {
  const failed = new Map(outcome.failed.map((f) => [f.email, f.reason]));
  const settled: SettledRequest = {
    attempt: batch.attempt,
    batchId: batch.batchId,
    upserted: [],
    unsubscribed: [],
    failed: [],
  };
  for (const c of contacts) {
    const reason = failed.get(c.email);
    if (reason !== undefined)
      settled.failed.push({
        email: c.email,
        reason: reason || ACTIVECAMPAIGN_SKIPPED_REASON,
        ...(c.unsubscribe ? { unsubscribe: true } : {}),
      });
    else (c.unsubscribe ? settled.unsubscribed : settled.upserted).push(c.email);
  }
  return settled;
}
