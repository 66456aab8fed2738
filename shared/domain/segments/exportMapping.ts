/**
 * The column mapping of an export (the connector's "data matching"), and its resolution against the
 * columns of one file. The export definition reuses `ExportMapping` as is.
 */
import { z } from 'zod';

import { InputFileError } from '../../errors';

const columnName = z.string().trim().min(1).max(256);

/** How segment columns become ActiveCampaign contact data. Column names match case-insensitively. */
export const ExportMapping = z
  .object({
    /** The column holding the email address (required: contacts are matched on email). */
    email: columnName,
    firstName: columnName.optional(),
    lastName: columnName.optional(),
    phone: columnName.optional(),
    /** Custom fields: a column's value goes into the ActiveCampaign custom field with this id. */
    fields: z
      .array(z.object({ column: columnName, fieldId: z.coerce.number().int().positive() }))
      .max(100)
      .default([]),
    tags: z
      .object({
        /** Tag names added to every contact of the export. */
        fixed: z.array(z.string().trim().min(1).max(255)).max(50).default([]),
        /** A column holding tag names for each contact, split on `separator`. */
        column: columnName.optional(),
        separator: z.string().min(1).max(5).default(','),
      })
      .default({ fixed: [], separator: ',' }),
  })
  .strict();

/** A parsed mapping (defaults applied). */
export type ExportMapping = z.infer<typeof ExportMapping>;
/** A mapping as written by a caller (defaults optional). */
export type ExportMappingInput = z.input<typeof ExportMapping>;

/** Where each mapped column sits in one file's records (-1: not mapped). */
export interface ColumnIndexes {
  email: number;
  firstName: number;
  lastName: number;
  phone: number;
  tags: number;
  fields: { index: number; fieldId: number; column: string }[];
  /** How many fields a well-formed record of this file has. */
  width: number;
}

/**
 * Finds every mapped column among `columns` (trimmed, case-insensitive; an exact match wins over a
 * case-insensitive one). A mapped column that is missing or ambiguous fails with an `InputFileError`
 * naming the column and the file.
 */
export function resolveColumns(
  mapping: ExportMapping,
  columns: readonly string[],
  file: string,
): ColumnIndexes {
  const trimmed = columns.map((c) => c.trim());
  const find = (wanted: string, role: string): number => {
    const exact = trimmed.indexOf(wanted);
    if (exact !== -1) return exact;
    const lower = wanted.toLowerCase();
    const matches = trimmed.flatMap((c, i) => (c.toLowerCase() === lower ? [i] : []));
    if (matches.length === 1) return matches[0]!;
    const available = trimmed.map((c) => JSON.stringify(c)).join(', ');
    throw new InputFileError(
      file,
      matches.length === 0
        ? `mapped ${role} column "${wanted}" is not in the file (columns: ${available})`
        : `mapped ${role} column "${wanted}" matches several columns case-insensitively (columns: ${available})`,
    );
  };
  const optional = (wanted: string | undefined, role: string) =>
    wanted === undefined ? -1 : find(wanted, role);
  return {
    email: find(mapping.email, 'email'),
    firstName: optional(mapping.firstName, 'first name'),
    lastName: optional(mapping.lastName, 'last name'),
    phone: optional(mapping.phone, 'phone'),
    tags: optional(mapping.tags.column, 'tags'),
    fields: mapping.fields.map((f) => ({
      index: find(f.column, `custom field ${f.fieldId}`),
      fieldId: f.fieldId,
      column: f.column,
    })),
    width: columns.length,
  };
}
