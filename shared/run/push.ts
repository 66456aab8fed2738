/**
 * The Push activity: sends a slice's staged bulk-import bodies as staged, one after another, paced by the
 * account's shared budget (the client waits for its slot). Every attempt is appended to the slice's push log
 * before the next request is sent, so when the host re-runs this activity after a crash, requests already
 * sent are not sent again (the log is read first). Before each request the run's cancel marker is checked.
 *
 * Errors: the client has already retried transport faults and throttling. What is left is recorded against
 * the request's contacts (they are reported and sent again next run), except bad credentials or a deleted
 * list, which fail the whole Push: every later request would fail the same way.
 */
import {
  ActiveCampaignNotFoundError,
  AuthenticationError,
  type BulkImportRequest,
  mayHaveBeenApplied,
  OutcomeUnknownError,
} from '../adapters/activecampaign';
import { runFolder, sliceBlobName } from '../adapters/blob/runFolder';
import { ensureError } from '../errors';
import type { RunDeps, RunLogger } from './deps';
import { PushSliceInput, type PushSliceOutput } from './payloads';
import { isCanceled, type PushLogEntry, PushLogWriter, readPushLog } from './runBlobs';
import { cachedSlice } from './sliceCache';

/** How often a Push looks at the run's cancel marker (ms). */
const CANCEL_LOOK_MS = 1_000;

/** The connection and API key of an export, for one activity execution. */
export async function clientForExport(deps: RunDeps, exportId: string, logger?: RunLogger) {
  const { record: definition } = await deps.records.exports.get(exportId);
  if (!definition.connectionId) throw new Error(`Export ${exportId} has no connection`);
  const { record: connection } = await deps.records.connections.get(definition.connectionId);
  const apiKey = await deps.secrets.getApiKey(connection.id);
  return { definition, connection, client: deps.clientFor(connection, apiKey, logger) };
}

/** Runs Push for one slice (or some of its requests again); see the module comment. */
export async function pushSlice(
  rawInput: unknown,
  deps: RunDeps,
  logger?: RunLogger,
): Promise<PushSliceOutput> {
  const input = PushSliceInput.parse(rawInput);
  const folder = runFolder(input.exportId, input.runId);
  const [slice, log] = await Promise.all([
    cachedSlice(deps.work, sliceBlobName(folder, input.slice)),
    readPushLog(deps.work, folder, input.slice),
  ]);
  const writer = new PushLogWriter(deps.work, folder, input.slice);
  // The cancel marker is looked at before the first request and then at most once a second.
  let canceledAt = false;
  let lookedAt = -Infinity;
  const isRunCanceled = async () => {
    if (canceledAt) return true;
    if (deps.now() - lookedAt < CANCEL_LOOK_MS) return false;
    lookedAt = deps.now();
    canceledAt = await isCanceled(deps.work, folder);
    return canceledAt;
  };
  const done = new Map(log.entries.map((e) => [`${e.request}:${e.attempt}`, e]));
  const indexes = input.requests ?? slice.requests.map((_, i) => i);
  const { client } = await clientForExport(deps, input.exportId, logger);
  const before = { ...client.stats };
  const submitted: PushLogEntry[] = [];
  const canceled: number[] = [];

  for (const index of indexes) {
    const staged = slice.requests[index];
    if (!staged) throw new Error(`Slice ${input.slice} has no request ${index}`);
    const previous = done.get(`${index}:${input.attempt}`);
    if (previous) {
      submitted.push(previous);
      continue;
    }
    if (await isRunCanceled()) {
      canceled.push(index);
      continue;
    }
    // An earlier execution began this send and recorded no outcome (the host stopped in between):
    // ActiveCampaign may have received it, so this send may apply its contacts a second time (reported).
    const resumed = log.interrupted.has(`${index}:${input.attempt}`) ? 1 : 0;
    await writer.sending({ request: index, attempt: input.attempt });
    let entry: PushLogEntry;
    try {
      const accepted = await client.bulkImport(staged.body as BulkImportRequest);
      const resends = accepted.ambiguousResends + resumed;
      entry = {
        request: index,
        attempt: input.attempt,
        contacts: staged.contactCount,
        batchId: accepted.batchId,
        ...(resends > 0 ? { ambiguousResends: resends } : {}),
      };
    } catch (caught) {
      if (caught instanceof AuthenticationError || caught instanceof ActiveCampaignNotFoundError)
        throw caught;
      const error = ensureError(caught);
      // The answer was lost (and the bounded resends with it): ActiveCampaign may have applied the request.
      const unknown = mayHaveBeenApplied(caught);
      const resends = (caught instanceof OutcomeUnknownError ? caught.ambiguousResends : 0) + resumed;
      entry = {
        request: index,
        attempt: input.attempt,
        contacts: staged.contactCount,
        error: error.message,
        ...(unknown ? { outcomeUnknown: true } : {}),
        ...(resends > 0 ? { ambiguousResends: resends } : {}),
      };
    }
    writer.outcome(entry);
    submitted.push(entry);
  }
  await writer.flush();
  logger?.log(
    `Pushed slice ${input.slice} (attempt ${input.attempt}): ${submitted.filter((s) => s.batchId).length} queued, ` +
      `${submitted.filter((s) => !s.batchId).length} not queued, ${canceled.length} canceled`,
  );
  return {
    slice: input.slice,
    attempt: input.attempt,
    submitted,
    canceled,
    stats: {
      bulkImport: client.stats.bulkImportsAccepted - before.bulkImportsAccepted,
      throttled:
        client.stats.throttled - before.throttled + (client.stats.bulkRateLimited - before.bulkRateLimited),
      retries: client.stats.retries - before.retries,
    },
  };
}
