/**
 * The management API's payloads as zod schemas: the single source of their types, of request parsing
 * (strict: unknown fields are refused) and of the OpenAPI document.
 */
import { z } from 'zod';

import { CONNECTION_TYPE, ConnectionRecord } from '../domain/records/connection';
import { ExportRecord, ExportSchedule, MembershipMode } from '../domain/records/exportDefinition';
import { ExportMapping } from '../domain/segments/exportMapping';
import { listOf } from '../http/list';

/** A record id in a path: the UUIDs this API hands out (case-insensitive, stored lower-case). */
export const RecordId = z
  .uuid('must be a UUID (the id this API returned)')
  .transform((id) => id.toLowerCase());

/** `{id}` path parameters. */
export const IdParams = z.strictObject({ id: RecordId });

/** A display name: printable text, no control characters and no markup brackets. */
const DisplayText = (max: number) =>
  z
    .string()
    .trim()
    .min(1)
    .max(max)
    .regex(/^[^\p{Cc}\p{Cf}<>]*$/u, 'must be plain text (no control characters and no < or >)');

/** An ActiveCampaign API key: printable ASCII, no spaces (it travels in a header). */
const ApiKey = z
  .string()
  .trim()
  .min(1)
  .max(256)
  .regex(/^[\x21-\x7e]+$/, 'must be the API key from Settings → Developer (printable characters, no spaces)');

/** A segment name as a folder in segment storage: no path separators, no leading dot, no control characters. */
export const SegmentName = z
  .string()
  .min(1)
  .max(256)
  .regex(
    /^[\p{L}\p{N}_ ()-][\p{L}\p{N}_ .()-]*$/u,
    'must be a segment folder name (letters, digits, space, _ . ( ) -; no / or ..)',
  );

/** `POST /api/connections`. */
export const ConnectionCreate = z.strictObject({
  displayName: DisplayText(100),
  /** Host name only, e.g. `youraccount.api-us1.com` (from Settings → Developer → API URL, without https://). */
  hostname: z.string().max(300),
  apiKey: ApiKey,
  allowContributors: z.boolean().default(false),
  acceptDataPrivacy: z.literal(true, 'must be true: accept the data privacy terms to connect'),
});

/** `PATCH /api/connections/{id}`: any of the editable fields; a new key or host is verified first. */
export const ConnectionPatch = z
  .strictObject({
    displayName: DisplayText(100).optional(),
    hostname: z.string().max(300).optional(),
    apiKey: ApiKey.optional(),
    allowContributors: z.boolean().optional(),
  })
  .refine((patch) => Object.keys(patch).length > 0, 'give at least one field to change');

/** What an admin sees of a connection: the record (never the key). */
export const ConnectionView = ConnectionRecord;

/** What a contributor sees of a connection shared with them. */
export const ContributorConnection = z.object({
  id: z.string(),
  displayName: z.string(),
  type: z.literal(CONNECTION_TYPE),
});

export const ConnectionList = listOf(z.union([ConnectionView, ContributorConnection]));

/** `DELETE /api/connections/{id}` query. */
export const ConnectionDeleteQuery = z.strictObject({
  detach: z.enum(['true', 'false'], "must be 'true' or 'false'").optional(),
});

/** `POST /api/connections/{id}/verify` answer. */
export const VerifyResult = z.object({
  verified: z.literal(true),
  verifiedAt: z.string(),
  connection: ConnectionView,
});

const ExportName = DisplayText(100);
const ListId = z.number().int().positive().max(2_147_483_647);
const Segments = z
  .array(SegmentName)
  .min(1)
  .max(50)
  .refine(
    (names) => new Set(names.map((n) => n.toLowerCase())).size === names.length,
    'segments must not repeat',
  );

/** `POST /api/exports`. */
export const ExportCreate = z.strictObject({
  name: ExportName,
  connectionId: RecordId,
  /** The ActiveCampaign list id (Lists → the list's id); verified to exist on save. */
  listId: ListId,
  mapping: ExportMapping,
  segments: Segments,
  schedule: ExportSchedule.default('off'),
  membership: MembershipMode.default('add'),
});

/** `PATCH /api/exports/{id}`. `mapping` is replaced as a whole. */
export const ExportPatch = z
  .strictObject({
    name: ExportName.optional(),
    connectionId: RecordId.optional(),
    listId: ListId.optional(),
    mapping: ExportMapping.optional(),
    segments: Segments.optional(),
    schedule: ExportSchedule.optional(),
    membership: MembershipMode.optional(),
  })
  .refine((patch) => Object.keys(patch).length > 0, 'give at least one field to change');

export const ExportView = ExportRecord;
export const ExportList = listOf(ExportView);

/** `GET /api/segments` item. */
export const SegmentSummary = z.object({
  name: z.string(),
  layout: z.enum(['customerInsights', 'plain']),
  newestSnapshotAt: z.string().nullable(),
  fileCount: z.number().int(),
});
export const SegmentList = listOf(SegmentSummary);
