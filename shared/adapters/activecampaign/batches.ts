/**
 * Pure helpers to cut contacts into bulk import requests and to check emails the way ActiveCampaign does,
 * so ActiveCampaign never rejects a whole request (a validation failure queues nothing).
 */
import { MAX_BULK_IMPORT_BYTES, MAX_CONTACTS_PER_BULK_IMPORT } from './client';
import type { BulkImportContact, BulkImportRequest } from './schemas';

// ActiveCampaign's documented rule: at least one character before `@`; none of " ( ) , : ; < > @ [ \ ] in
// either part; a domain with a `.` followed by at least two letters (help.activecampaign.com, bulk import).
const EMAIL = /^[^"(),:;<>@[\\\]\s]+@[^"(),:;<>@[\\\]\s]*\.[a-z]{2,}$/i;

/** True when ActiveCampaign would accept `email` as a contact's email address. */
export function isAcceptableEmail(email: string): boolean {
  return EMAIL.test(email);
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
