/**
 * Turning ActiveCampaign's asynchronous import batches into per-contact outcomes.
 *
 * `toBatchOutcome` (`batchOutcome.ts`) is the single-shot, pure mapping the Durable orchestration uses between
 * its own durable timers. `reconcileBatches` and `importContacts` are the non-durable loop (tests, bench, CLI): poll until
 * every batch is terminal with backoff, resubmit `failed`/`interrupted` batches a bounded number of times
 * (ActiveCampaign never retries those itself; resubmitting is safe because imports upsert by email), and
 * report each contact as confirmed or rejected with a reason. The loop itself is in `reconcileLoop.ts`.
 */
import { bulkImportRequestsOf, isAcceptableEmail } from './batches';
import type { ContactOutcome } from './batchOutcome';
import { type ActiveCampaignClient, MAX_BULK_IMPORT_BYTES } from './client';
import {
  pushAndReconcile,
  type ReconcileOptions,
  type ReconcileResult,
  type SubmittedBatch,
} from './reconcileLoop';
import type { BulkImportContact } from './schemas';

// The pure outcome mapping and the loop's types live in their own files; re-exported so every name is still
// importable from here.
export {
  ACTIVECAMPAIGN_SKIPPED_REASON,
  type BatchOutcome,
  type ContactOutcome,
  describeFailureReasons,
  emailsOf,
  notAccepted,
  toBatchOutcome,
} from './batchOutcome';
export type { ImportRequestCounts, ReconcileOptions, ReconcileResult, SubmittedBatch } from './reconcileLoop';

/** Polls every batch until terminal, resubmitting failed/interrupted ones; one outcome per submitted contact. */
export async function reconcileBatches(
  client: ActiveCampaignClient,
  submitted: readonly SubmittedBatch[],
  options: ReconcileOptions,
): Promise<ReconcileResult> {
  return pushAndReconcile(client, [], submitted, options, 0);
}

/** Options of `importContacts`. */
export interface ImportContactsOptions extends ReconcileOptions {
  /** Bulk imports in flight at once (each still waits for the account's budget). */
  concurrency?: number;
}

/**
 * Non-durable end-to-end push (tests, bench, CLI): rejects invalid, duplicate and oversized contacts locally,
 * submits the rest in bulk requests, reconciles every batch WHILE pushing goes on, and returns one outcome per
 * input contact (the local rejections first). The input is checked and cut into requests as the push goes: the
 * first request is sent once its 250 contacts are checked, not after the whole input (25,000 contacts take a
 * few hundred ms to check, a delay before the first bulk slot that no later slot makes up).
 */
export async function importContacts(
  client: ActiveCampaignClient,
  contacts: readonly BulkImportContact[],
  options: ImportContactsOptions,
): Promise<ReconcileResult> {
  const rejected: ContactOutcome[] = [];
  const requests = bulkImportRequestsOf(checkedContacts(contacts, rejected), {}, (contact, bytes) =>
    rejected.push({
      email: contact.email,
      status: 'rejected',
      reason: `contact is ${bytes} bytes as JSON; a bulk import may carry at most ${MAX_BULK_IMPORT_BYTES} bytes`,
    }),
  );
  const result = await pushAndReconcile(client, requests, [], options, Math.max(1, options.concurrency ?? 4));
  return { ...result, outcomes: [...rejected, ...result.outcomes] };
}

/** The contacts worth sending, in order, as they are read; each invalid or repeated one goes to `rejected`. */
function* checkedContacts(
  contacts: readonly BulkImportContact[],
  rejected: ContactOutcome[],
): Generator<BulkImportContact, void, undefined> {
  const seen = new Set<string>();
  for (const contact of contacts) {
    const key = contact.email.trim().toLowerCase();
    if (!contact.email.trim())
      rejected.push({ email: contact.email, status: 'rejected', reason: 'missing email' });
    else if (!isAcceptableEmail(contact.email)) {
      rejected.push({ email: contact.email, status: 'rejected', reason: 'invalid email format' });
    } else if (seen.has(key)) {
      rejected.push({ email: contact.email, status: 'rejected', reason: 'duplicate email' });
    } else {
      seen.add(key);
      yield contact;
    }
  }
}
