/**
 * Request building for `bulkImport`: the request checked locally (schema, 250 contacts, < 400,000 bytes) so
 * an oversized or malformed one is never sent, and the budget it is paced under.
 */
import { MAX_BULK_IMPORT_BYTES, MAX_CONTACTS_PER_BULK_IMPORT } from '../../domain/segments/requestPacker';
import { ValidationFailedError } from './errors';
import type { BudgetKind } from './rateBudget';
import { type BulkImportRequest, bulkImportRequestSchema } from './schemas';

/** The path of bulk import under `/api/3/`. */
export const BULK_IMPORT_PATH = 'import/bulk_import';

/** The JSON body of a bulk import and its budget kind; throws ValidationFailedError (nothing sent) if it may not go. */
export function encodeBulkImport(request: BulkImportRequest): { body: string; kind: BudgetKind } {
  const parsed = bulkImportRequestSchema.safeParse(request);
  const body = JSON.stringify(parsed.success ? parsed.data : request);
  const local = (reason: string) =>
    new ValidationFailedError(
      { method: 'POST', path: `/api/3/${BULK_IMPORT_PATH}`, attempt: 0 },
      undefined,
      [reason],
      `Bulk import not sent (${reason})`,
    );
  if (!parsed.success)
    throw local(`request does not match the bulk import schema: ${parsed.error.issues[0]?.message ?? ''}`);
  if (parsed.data.contacts.length > MAX_CONTACTS_PER_BULK_IMPORT) {
    throw local(
      `${parsed.data.contacts.length} contacts; at most ${MAX_CONTACTS_PER_BULK_IMPORT} per request`,
    );
  }
  const bytes = Buffer.byteLength(body);
  if (bytes > MAX_BULK_IMPORT_BYTES) throw local(`body is ${bytes} bytes; it must be under 400,000`);
  // ActiveCampaign budgets single-contact imports separately (20/min by default,
  // ACTIVECAMPAIGN_SINGLE_IMPORTS_PER_MINUTE); pace them as such.
  const kind: BudgetKind = parsed.data.contacts.length === 1 ? 'singleContactImport' : 'bulkImport';
  return { body, kind };
}
