/** The rejected-rows file: one line per row that was not exported, with the reason. */

/** Every reason a row may not be exported, in report order. */
export const REJECT_REASONS = [
  'missing_email',
  'invalid_email',
  'duplicate',
  'ragged_row',
  'field_too_long',
  'contact_too_large',
  'hash_collision',
] as const;

/** Why a row was not exported. */
export type RejectReason = (typeof REJECT_REASONS)[number];

/** One rejected row: where it starts, the email as found, the reason and a human detail. */
export interface RejectedRow {
  file: string;
  line: number;
  email: string;
  reason: RejectReason;
  detail: string;
}

/** The header line of `rejected.csv`. */
export const REJECTED_CSV_HEADER = 'file,line,email,reason,detail\r\n';

/** One CSV line (RFC 4180, CRLF) for a rejected row. */
export function toRejectedCsvLine(row: RejectedRow): string {
  return `${csvCell(row.file)},${row.line},${csvCell(row.email)},${row.reason},${csvCell(row.detail)}\r\n`;
}

/**
 * Quotes a cell when needed. Cells that a spreadsheet would run as a formula (leading = + - @ tab CR) get a
 * leading apostrophe (OWASP "CSV injection"): the file is downloaded and opened by people.
 */
export function csvCell(value: string): string {
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}
