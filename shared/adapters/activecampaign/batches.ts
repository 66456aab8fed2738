/**
 * Pure helpers to cut contacts into bulk import requests and to check emails the way ActiveCampaign does,
 * so ActiveCampaign never rejects a whole request (a validation failure queues nothing).
 */
import { emailProblem } from '../../domain/segments/contact';
import { MAX_BULK_IMPORT_BYTES, MAX_CONTACTS_PER_BULK_IMPORT } from './client';
import type { BulkImportContact, BulkImportRequest } from './schemas';

/**
 * True when ActiveCampaign would accept `email` as a contact's email address. One rule for the whole app: the
 * domain's `emailProblem` (ActiveCampaign's documented rule, read strictly), not a second copy here.
 */
export function isAcceptableEmail(email: string): boolean {
  return emailProblem(email) === undefined;
}

/** Envelope options of every request built by `toBulkImportRequests`. */
export interface BulkRequestOptions {
  /** Faster imports; mass imports fire no automations anyway when set (reference/bulk-import-contacts). */
  excludeAutomations?: boolean;
  maxContacts?: number;
  maxBytes?: number;
}

/** Pure: cuts contacts into requests of at most 250 contacts and under 400,000 bytes each, in input order. */
export function toBulkImportRequests(
  contacts: readonly BulkImportContact[],
  options: BulkRequestOptions = {},
): BulkImportRequest[] {
  return [...bulkImportRequestsOf(contacts, options)];
}

/**
 * Cuts contacts into bulk import requests lazily, in input order: each request is built when it is asked for,
 * so the first can be sent while the rest of a large input is still unread. A contact too large for any
 * request goes to `tooLarge` (with its size in bytes) and is skipped; without `tooLarge` it throws RangeError.
 */
export function* bulkImportRequestsOf(
  contacts: Iterable<BulkImportContact>,
  options: BulkRequestOptions = {},
  tooLarge?: (contact: BulkImportContact, bytes: number) => void,
): Generator<BulkImportRequest, void, undefined> {
  const maxContacts = options.maxContacts ?? MAX_CONTACTS_PER_BULK_IMPORT;
  const maxBytes = options.maxBytes ?? MAX_BULK_IMPORT_BYTES;
  const envelope = (list: BulkImportContact[]): BulkImportRequest => ({
    contacts: list,
    exclude_automations: options.excludeAutomations ?? true,
  });
  const overhead = Buffer.byteLength(JSON.stringify(envelope([])));
  let current: BulkImportContact[] = [];
  let bytes = overhead;
  for (const contact of contacts) {
    const size = Buffer.byteLength(JSON.stringify(contact)) + 1; // +1 for the separating comma
    if (overhead + size > maxBytes) {
      if (!tooLarge) throw new RangeError(`one contact alone exceeds ${maxBytes} bytes`);
      tooLarge(contact, size - 1);
      continue;
    }
    if (current.length > 0 && (current.length >= maxContacts || bytes + size > maxBytes)) {
      yield envelope(current);
      current = [];
      bytes = overhead;
    }
    current.push(contact);
    bytes += size;
  }
  if (current.length > 0) yield envelope(current);
}
