/**
 * Wire shapes of the ActiveCampaign API v3 calls the exporter makes, as zod schemas (the single source of
 * each type). Every response is parsed here before the rest of the app sees it.
 * Sources: developers.activecampaign.com/reference/bulk-import-contacts, /reference/bulk-import-status-info,
 * /reference/retrieve-a-list, /reference/users; summarised in docs/activecampaign.md.
 */
import { z } from 'zod';

/** ActiveCampaign ids arrive as strings or numbers depending on the endpoint; we always hold strings. */
const id = z.union([z.string(), z.number()]).transform(String);

/** The docs spell bulk import's flag both `success` and `Success`: read keys case-insensitively. */
function withLowercaseSuccess(value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  const record = value as Record<string, unknown>;
  const key = Object.keys(record).find((k) => k.toLowerCase() === 'success');
  return key === undefined || key === 'success' ? record : { ...record, success: record[key] };
}

/** `GET /api/3/users/me` → 200. */
export const userResponseSchema = z.object({
  user: z.looseObject({ id, username: z.string().optional(), email: z.string().optional() }),
});
export type ActiveCampaignUser = z.infer<typeof userResponseSchema>['user'];

/** `GET /api/3/lists/{id}` → 200. */
export const listResponseSchema = z.object({
  list: z.looseObject({ id, name: z.string(), stringid: z.string().optional() }),
});
export type ActiveCampaignList = z.infer<typeof listResponseSchema>['list'];

/** One contact of a bulk import request (snake_case, as ActiveCampaign's bulk endpoint expects). */
export const bulkImportContactSchema = z.object({
  email: z.string().min(1),
  first_name: z.string().optional(),
  last_name: z.string().optional(),
  phone: z.string().optional(),
  customer_acct_name: z.string().optional(),
  tags: z.array(z.string()).optional(),
  fields: z.array(z.object({ id: z.union([z.string(), z.number()]), value: z.string() })).optional(),
  subscribe: z.array(z.object({ listid: z.number().int().positive() })).optional(),
  unsubscribe: z.array(z.object({ listid: z.number().int().positive() })).optional(),
});
export type BulkImportContact = z.infer<typeof bulkImportContactSchema>;

/** `POST /api/3/import/bulk_import` request body. */
export const bulkImportRequestSchema = z.object({
  contacts: z.array(bulkImportContactSchema).min(1),
  exclude_automations: z.boolean().optional(),
  callback: z.looseObject({}).optional(),
});
export type BulkImportRequest = z.infer<typeof bulkImportRequestSchema>;

/** `POST /api/3/import/bulk_import` → 200 `{"success":1,"queued_contacts":N,"batchId":"<uuid>",...}`. */
export const bulkImportAcceptedSchema = z.preprocess(
  withLowercaseSuccess,
  z.object({
    success: z.union([z.literal(1), z.literal(true), z.literal('1')]),
    queued_contacts: z.coerce.number().int().nonnegative(),
    batchId: z.string().min(1),
    message: z.string().optional(),
  }),
);
export type BulkImportAccepted = z.infer<typeof bulkImportAcceptedSchema>;

/**
 * What `ActiveCampaignClient.bulkImport` returns (and what a caller may store, e.g. as an activity result):
 * the accepted answer plus `ambiguousResends`: how many times beyond once ActiveCampaign may have applied
 * it (earlier sends whose response was lost after the body may have reached it). Above 0, its contacts may
 * have been applied twice (harmless for an upsert by email with the same content, but reported).
 */
export const bulkImportResultSchema = z.intersection(
  bulkImportAcceptedSchema,
  z.object({ ambiguousResends: z.number().int().nonnegative() }),
);
export type BulkImportResult = z.infer<typeof bulkImportResultSchema>;

/** A whole-request validation failure names the offending contact (0- or 1-based: UNCONFIRMED). */
export const failureReasonSchema = z.union([
  z.string(),
  z.looseObject({ contact: z.coerce.number().int().optional(), failureReason: z.string() }),
]);
export type FailureReason = z.infer<typeof failureReasonSchema>;

/** Any error body ActiveCampaign sends: `{message, failureReasons}` (bulk import) or `{errors:[...]}`. */
export const errorBodySchema = z.preprocess(
  withLowercaseSuccess,
  z.looseObject({
    success: z.unknown().optional(),
    message: z.string().optional(),
    failureReasons: z.array(failureReasonSchema).optional(),
    errors: z.array(z.unknown()).optional(),
  }),
);
export type ErrorBody = z.infer<typeof errorBodySchema>;

/** Batch states documented for `import/info`; `failed` and `interrupted` are never retried by ActiveCampaign. */
export const importStatusSchema = z.enum([
  'waiting',
  'claimed',
  'active',
  'completed',
  'failed',
  'interrupted',
]);
export type ImportStatus = z.infer<typeof importStatusSchema>;

/**
 * `GET /api/3/import/info?batchId=` → `{"status":"completed","success":["<contactId>"],"failure":["<email>"]}`.
 * Polled within about a second of the POST, `status` is the boolean `false` (not ready yet).
 */
export const importInfoSchema = z.looseObject({
  // An undocumented status string is kept, not refused: the reconcile loop waits on it until its deadline
  // (refusing it would throw the whole reconciliation away over one batch).
  status: z.union([z.literal(false), importStatusSchema, z.string()]),
  success: z.array(id).optional(),
  failure: z
    .array(
      z.union([
        z.string(),
        // Defensive: tolerate an object per failure carrying the email, should the shape ever widen.
        z.looseObject({ email: z.string() }).transform((entry) => entry.email),
      ]),
    )
    .optional(),
});
export type ImportInfo = z.infer<typeof importInfoSchema>;
