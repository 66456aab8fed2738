/**
 * The prepared-row layout: the one place that knows where each field of a prepared row sits in
 * `RowBatch.ints`. The row preparer writes rows with `writeContactRow` / `writeRejectedRow`; every reader
 * (the pipeline, the pool, tests) walks rows `ROW_INTS` apart and reads fields with the accessors below,
 * never by offset.
 *
 * A row is 12 int32s: kind (`ROW_CONTACT` or `ROW_REJECTED`, plus the `ROW_UNCHANGED` flag), the physical
 * line where the record starts, the email hash (hi, lo), the content hash (hi, lo), the index in the
 * previous snapshot (-1: none), and four positions: `bytes[emailStart, emailEnd)` is the normalised email
 * (UTF-8, only for an email the previous snapshot lacks), `bytes[emailEnd, rawEnd)` the email as found
 * (only when it differs), `json[jsonStart, jsonEnd)` the contact's bulk-import JSON when it is to be sent
 * (else empty; a comma follows each, so the JSON of consecutive contacts is one run for the packer to copy).
 * A rejected row holds only its kind and line; its reason is the batch's next note.
 *
 * Hash halves are stored as the int32s they are; readers that compare or store them as 32-bit words take
 * them as they are (making them unsigned costs a heap number per call on the hot path).
 */

/** Int32 slots per row. */
const ROW_INTS = 12;
// Slot offsets within a row: known only to this file.
const KIND = 0;
const LINE = 1;
const EMAIL_HI = 2;
const EMAIL_LO = 3;
const CONTENT_HI = 4;
const CONTENT_LO = 5;
const PREVIOUS = 6;
const START = 7;
const EMAIL_END = 8;
const RAW_END = 9;
const JSON_START = 10;
const JSON_END = 11;
/** A valid contact (its kind may carry `ROW_UNCHANGED`). */
const ROW_CONTACT = 0;
/** A rejected row: its reason is the batch's next note. */
const ROW_REJECTED = 1;
/** Flag: the previous snapshot holds this email with the same content. */
const ROW_UNCHANGED = 2;
// Local constants, exported in a list: see hash64.ts for why hot loops must not read `export const`s.
// The offsets are exported for the layout's own tests; readers use the accessors.
export {
  CONTENT_HI,
  CONTENT_LO,
  EMAIL_END,
  EMAIL_HI,
  EMAIL_LO,
  JSON_END,
  JSON_START,
  KIND,
  LINE,
  PREVIOUS,
  RAW_END,
  ROW_CONTACT,
  ROW_INTS,
  ROW_REJECTED,
  ROW_UNCHANGED,
  START,
};

/** True when the row at `r` is a rejected row. */
export function isRejectedRow(ints: Int32Array, r: number): boolean {
  return ints[r + KIND] === ROW_REJECTED;
}

/** True when the contact at `r` is in the previous snapshot with the same content. */
export function isUnchangedRow(ints: Int32Array, r: number): boolean {
  return (ints[r + KIND]! & ROW_UNCHANGED) !== 0;
}

/** The physical line where the row's record starts. */
export function rowLine(ints: Int32Array, r: number): number {
  return ints[r + LINE]!;
}

/** The email hash's high half (as stored: an int32). */
export function rowEmailHi(ints: Int32Array, r: number): number {
  return ints[r + EMAIL_HI]!;
}

/** The email hash's low half (as stored: an int32). */
export function rowEmailLo(ints: Int32Array, r: number): number {
  return ints[r + EMAIL_LO]!;
}

/** The content hash's high half (as stored: an int32). */
export function rowContentHi(ints: Int32Array, r: number): number {
  return ints[r + CONTENT_HI]!;
}

/** The content hash's low half (as stored: an int32). */
export function rowContentLo(ints: Int32Array, r: number): number {
  return ints[r + CONTENT_LO]!;
}

/** The contact's index in the previous snapshot, or -1. */
export function rowPrevious(ints: Int32Array, r: number): number {
  return ints[r + PREVIOUS]!;
}

/** Where the normalised email starts in the batch's `bytes`. */
export function rowEmailStart(ints: Int32Array, r: number): number {
  return ints[r + START]!;
}

/** Where the normalised email ends (and the email as found starts) in the batch's `bytes`. */
export function rowEmailEnd(ints: Int32Array, r: number): number {
  return ints[r + EMAIL_END]!;
}

/** Where the email as found ends in the batch's `bytes`. */
export function rowRawEnd(ints: Int32Array, r: number): number {
  return ints[r + RAW_END]!;
}

/** Where the contact's JSON starts in the batch's `json`. */
export function rowJsonStart(ints: Int32Array, r: number): number {
  return ints[r + JSON_START]!;
}

/** Where the contact's JSON ends in the batch's `json` (equal to the start: nothing to send). */
export function rowJsonEnd(ints: Int32Array, r: number): number {
  return ints[r + JSON_END]!;
}

/** Writes a contact's row at `r`. */
export function writeContactRow(
  ints: Int32Array,
  r: number,
  unchanged: boolean,
  line: number,
  hi: number,
  lo: number,
  chi: number,
  clo: number,
  at: number,
  start: number,
  emailEnd: number,
  rawEnd: number,
  jsonStart: number,
  jsonEnd: number,
): void {
  ints[r + KIND] = unchanged ? ROW_CONTACT | ROW_UNCHANGED : ROW_CONTACT;
  ints[r + LINE] = line;
  ints[r + EMAIL_HI] = hi;
  ints[r + EMAIL_LO] = lo;
  ints[r + CONTENT_HI] = chi;
  ints[r + CONTENT_LO] = clo;
  ints[r + PREVIOUS] = at;
  ints[r + START] = start;
  ints[r + EMAIL_END] = emailEnd;
  ints[r + RAW_END] = rawEnd;
  ints[r + JSON_START] = jsonStart;
  ints[r + JSON_END] = jsonEnd;
}

/** Writes a rejected row at `r` (its reason goes in the batch's notes). */
export function writeRejectedRow(ints: Int32Array, r: number, line: number): void {
  ints[r + KIND] = ROW_REJECTED;
  ints[r + LINE] = line;
}

/** Sets the email hash of the row at `r` (tests make collisions with it). */
export function setRowEmailHash(ints: Int32Array, r: number, hi: number, lo: number): void {
  ints[r + EMAIL_HI] = hi;
  ints[r + EMAIL_LO] = lo;
}

/** Moves the lines of the first `rows` rows on by `by` (chunk lines made file lines). */
export function shiftRowLines(ints: Int32Array, rows: number, by: number): void {
  for (let r = LINE, end = rows * ROW_INTS; r < end; r += ROW_INTS) ints[r] = ints[r]! + by;
}
