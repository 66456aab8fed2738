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
  const maxContacts = options.maxContacts ?? MAX_CONTACTS_PER_BULK_IMPORT;
  const maxBytes = options.maxBytes ?? MAX_BULK_IMPORT_BYTES;
  const envelope = (list: BulkImportContact[]): BulkImportRequest => ({
    contacts: list,
    exclude_automations: options.excludeAutomations ?? true,
  });
  const overhead = Buffer.byteLength(JSON.stringify(envelope([])));
  const requests: BulkImportRequest[] = [];
  let current: BulkImportContact[] = [];
  let bytes = overhead;
  for (const contact of contacts) {
    const size = Buffer.byteLength(JSON.stringify(contact)) + 1; // +1 for the separating comma
    if (overhead + size > maxBytes) throw new RangeError(`one contact alone exceeds ${maxBytes} bytes`);
    if (current.length > 0 && (current.length >= maxContacts || bytes + size > maxBytes)) {
      requests.push(envelope(current));
      current = [];
      bytes = overhead;
    }
    current.push(contact);
    bytes += size;
  }
  if (current.length > 0) requests.push(envelope(current));
  return requests;
}
