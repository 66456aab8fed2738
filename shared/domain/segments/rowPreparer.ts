/**
 * The per-row half of Prepare that needs no state shared between rows: map → normalise → validate → hash
 * → look up in the previous snapshot → encode the contact's JSON when it will be sent. Its output is a
 * `RowBatch`, a compact binary record per row (typed arrays: new ones, or views of shared memory), that
 * `SegmentPipeline.acceptBatch` consumes in the export's order for the stateful half (dedupe, diff, cap,
 * packing, the target snapshot). Because nothing here depends on other rows, chunks of a file can be
 * prepared on several threads at once (shared/adapters/blob/rowPreparerPool.ts) with the same result as
 * preparing them one after another.
 *
 * Its parts live beside it: the row layout (preparedRowLayout.ts), the batch and its writer (rowBatch.ts),
 * the plain path's one-scan value check (plainValue.ts), preparing a whole chunk (prepareChunk.ts) and
 * decoding (decodeText.ts). Every name they export is also exported here, where it was first defined.
 * Kept at ~410 lines on purpose: what remains is the `RowPreparer` class, whose general and plain paths share
 * the per-row state of Prepare's hottest loop; splitting the class would pass that state through every call.
 */
import * as contact from './contact';
import { emailProblem, normaliseEmail, normaliseName, normaliseText, plainEmail } from './contact';
import type { CsvRecordSink } from './csvTokenizer';
import type { ColumnIndexes, ExportMapping } from './exportMapping';
import { type Hash64, hash64, Hasher64 } from './hash64';
import * as jsonBuffer from './jsonBuffer';
import { BulkContactEncoder } from './jsonBuffer';
import { isAscii, PLAIN_TAG, plainValue, put } from './plainValue';
import { writeContactRow, writeRejectedRow } from './preparedRowLayout';
import type { RejectReason } from './rejectedRows';
import { largestContactBytes, type PackingLimits } from './requestPacker';
import type { RowBatchWriter } from './rowBatch';
import { tagsOf, tooLongDetail } from './rowFields';

export { decodeOrFail, decodeWhole } from './decodeText';
export { type ChunkJob, prepareChunk } from './prepareChunk';
export * from './preparedRowLayout';
export { type BatchBuffers, type RowBatch, rowBatch, RowBatchWriter, type RowNote } from './rowBatch';

// Module-level copies of imported constants for the hot loops: see hash64.ts.
const { MAX_FIELD_LENGTH } = contact;
const {
  CLOSE_ARRAY,
  CLOSE_FIELDS,
  COMMA,
  EMAIL_KEY,
  FIELD_SEPARATOR,
  FIELDS_KEY,
  FIRST_NAME_KEY,
  LAST_NAME_KEY,
  PHONE_KEY,
  TAGS_KEY,
} = jsonBuffer;

/** Why a row is rejected as `hash_collision` (about once in 10⁸ million-contact runs). */
const COLLISION_DETAIL =
  'another email of this export has the same 64-bit hash, so the two cannot be told apart; not exported (please report this)';
export { COLLISION_DETAIL };

/** What `Hasher64.update('\u0002')` mixes in between the tags and the custom fields. */
const TAGS_END = '\u0002';

/** Adds a contact's row (preparedRowLayout.ts). */
function writeRow(
  out: RowBatchWriter,
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
  // The row first: it may grow `out.ints`.
  const r = out.row();
  writeContactRow(
    out.ints,
    r,
    unchanged,
    line,
    hi,
    lo,
    chi,
    clo,
    at,
    start,
    emailEnd,
    rawEnd,
    jsonStart,
    jsonEnd,
  );
}

/** What a row preparer needs to know (plain data: it is sent to worker threads). */
export interface RowPreparerOptions {
  mapping: ExportMapping;
  listId: number;
  /** Send every current contact, not only new and changed ones. */
  fullResync: boolean;
  packing: PackingLimits;
}

/** The previous snapshot as a row preparer searches it. */
export interface PreviousLookup {
  /** Entries held (0 on a first run). */
  readonly count: number;
  find(hi: number, lo: number): number;
  sameEmail(i: number, email: string): boolean;
  sameContent(i: number, contentHi: number, contentLo: number): boolean;
}

/** Prepares rows of files with known column positions; see the module comment. */
export class RowPreparer {
  private columns: ColumnIndexes | undefined;
  private encoder: BulkContactEncoder | undefined;
  private readonly emailHash: Hash64 = { hi: 0, lo: 0 };
  private readonly contentHash: Hash64 = { hi: 0, lo: 0 };
  private readonly hasher = new Hasher64();
  /**
   * `String(listId)`, and `String(fieldId)` per mapped field column: made once, not per row, for the content
   * hash.
   */
  private readonly listIdText: string;
  private fieldIdTexts: string[] = [];
  /** The current row's normalised custom field values, one per mapped field column (reused across rows). */
  private readonly values: string[] = [];

  /** The most JSON bytes a contact may have to fit in a request on its own. */
  private readonly largestContact: number;
  /**
   * Rows may take the plain path (`preparePlain`): no tag column, and fixed tags it can write as they are.
   * Tests turn it off to compare it with the general path.
   */
  plainRows = true;
  private plain = false;
  /** JSON bytes of a contact besides its values and their quotes, at most (`json.reserve` per row). */
  private literalBytes = 0;
  /**
   * Whether the plain path writes each email into the JSON while it checks it, before the snapshot lookup:
   * when every contact is sent (a first run, a full resync). Otherwise most are known and unchanged, and
   * only a new one's email is written, in a second scan.
   */
  private readonly writeEmailFirst: boolean;

  constructor(
    private readonly options: RowPreparerOptions,
    private readonly previous: PreviousLookup,
  ) {
    this.listIdText = String(options.listId);
    this.largestContact = largestContactBytes(options.packing);
    this.writeEmailFirst = previous.count === 0 || options.fullResync;
  }

  /** Sets the column positions of the records that follow. */
  begin(columns: ColumnIndexes): void {
    if (columns === this.columns) return;
    this.columns = columns;
    this.values.length = columns.fields.length;
    this.fieldIdTexts = columns.fields.map((f) => String(f.fieldId));
    this.encoder = new BulkContactEncoder(
      this.options.listId,
      columns.fields.map((f) => f.fieldId),
    );
    const fixed = this.options.mapping.tags.fixed;
    this.plain = columns.tags === -1 && fixed.every((tag) => PLAIN_TAG.test(tag));
    const pieces: Uint8Array[] = [EMAIL_KEY, FIRST_NAME_KEY, LAST_NAME_KEY, PHONE_KEY, TAGS_KEY, CLOSE_ARRAY];
    pieces.push(FIELDS_KEY, CLOSE_FIELDS, ...this.encoder.fieldHeads, this.encoder.tail);
    this.literalBytes =
      pieces.reduce((n, piece) => n + piece.length, 0) +
      FIELD_SEPARATOR.length * columns.fields.length +
      fixed.reduce((n, tag) => n + tag.length + 3, 0) +
      // Quotes of the email, names, phone and field values.
      2 * (4 + columns.fields.length);
  }

  /**
   * `(fields, line) => this.prepare(fields, line, out)`, the same function for every chunk written to `out`
   * (a new closure per chunk made the tokenizer's optimised code deoptimise: "wrong call target").
   */
  sinkInto(out: RowBatchWriter): CsvRecordSink {
    if (this.sink?.out !== out) {
      this.sink = { out, record: (fields, line) => this.prepare(fields, line, out) };
    }
    return this.sink.record;
  }

  private sink: { out: RowBatchWriter; record: CsvRecordSink } | undefined;

  /** Prepares one data record starting at physical line `line` into `out`. */
  prepare(fields: readonly string[], line: number, out: RowBatchWriter): void {
    const columns = this.columns;
    if (!columns) throw new Error('prepare() before begin()');
    if (
      fields.length === columns.width &&
      this.plain &&
      this.plainRows &&
      this.preparePlain(fields, line, out)
    )
      return;
    const rawEmail = fields[columns.email] ?? '';
    if (fields.length !== columns.width) {
      // The person is still in the segment even though the row cannot be used: hold every address in it
      // (a stray delimiter may have shifted the email out of its column), so mirror mode never
      // unsubscribes them for a malformed line; an unsubscribe cannot be undone by bulk import.
      const held: number[] = [];
      for (const field of fields) this.holdIfEmail(field, held);
      const detail = `expected ${columns.width} fields, found ${fields.length}`;
      return this.reject(out, line, rawEmail, 'ragged_row', detail, held);
    }
    const email = normaliseEmail(rawEmail);
    if (email === '') return this.reject(out, line, rawEmail, 'missing_email', 'the email column is empty');
    const problem = emailProblem(email);
    if (problem) return this.reject(out, line, rawEmail, 'invalid_email', problem);
    const { hi, lo } = hash64(email, this.emailHash);

    const firstName = columns.firstName === -1 ? '' : normaliseName(fields[columns.firstName]);
    const lastName = columns.lastName === -1 ? '' : normaliseName(fields[columns.lastName]);
    const phone = columns.phone === -1 ? '' : normaliseText(fields[columns.phone]);
    const tags = tagsOf(this.options.mapping.tags, columns.tags, fields);
    const fieldColumns = columns.fields;
    const values = this.values;
    for (let i = 0; i < fieldColumns.length; i++) values[i] = normaliseText(fields[fieldColumns[i]!.index]);
    const tooLong = tooLongDetail(this.options.mapping, firstName, lastName, phone, tags);
    if (tooLong) return this.reject(out, line, rawEmail, 'field_too_long', tooLong, [hi, lo]);

    // The content hash covers everything sent, without building the JSON: most rows of an incremental
    // run are unchanged and never need it.
    const h = this.hasher.reset().update(firstName).update(lastName).update(phone);
    for (const tag of tags) h.update(tag);
    h.update('\u0002');
    for (let i = 0; i < fieldColumns.length; i++) {
      // Empty custom values are not sent, so not hashed (the same pairs as `contact.fields` below).
      const value = values[i]!;
      if (value !== '') h.update(this.fieldIdTexts[i]!).update(value);
    }
    const { hi: chi, lo: clo } = h.update(this.listIdText).digest(this.contentHash);
    const at = this.previous.find(hi, lo);
    if (at !== -1 && !this.previous.sameEmail(at, email)) {
      // Another address the snapshot holds has the same 64-bit hash: it would pass for that contact.
      return this.reject(out, line, rawEmail, 'hash_collision', COLLISION_DETAIL, [hi, lo]);
    }
    const unchanged = at !== -1 && this.previous.sameContent(at, chi, clo);

    const bytes = out.out;
    const start = bytes.pos;
    // The email's bytes are only needed for a new one (a known one is in the previous snapshot).
    if (at === -1) bytes.text(email);
    const emailEnd = bytes.pos;
    if (rawEmail !== email) bytes.text(rawEmail);
    const rawEnd = bytes.pos;
    const json = out.json;
    const jsonStart = json.pos;
    if (this.options.fullResync || !unchanged) {
      // Encoded once, here, for the rows that are sent (values of empty custom fields are not sent).
      this.encoder!.write(json, email, firstName, lastName, phone, tags, values);
      const size = json.pos - jsonStart;
      if (size > this.largestContact) {
        // Never confirmed, so it stays "to send" in later runs and is rejected again each time: visible, not lost.
        bytes.pos = start;
        json.pos = jsonStart;
        const detail = `${size} bytes cannot fit in one bulk request`;
        return this.reject(out, line, rawEmail, 'contact_too_large', detail, [hi, lo]);
      }
    }
    const jsonEnd = json.pos;
    if (jsonEnd > jsonStart) json.ascii(',');
    writeRow(out, unchanged, line, hi, lo, chi, clo, at, start, emailEnd, rawEnd, jsonStart, jsonEnd);
  }

  /**
   * The common row in one scan per value: a valid email, normalised already or ASCII that only needs
   * trimming and lower-casing, and values that no normaliser changes and JSON writes without escapes
   * (`plainValue`). Each value is checked, hashed into the content hash and written as JSON in that scan,
   * instead of the general path's separate normalise, hash and encode passes. Returns false, having added
   * nothing, for any other row (and for rows the general path rejects), which `prepare` then prepares the
   * general way; for every row it accepts, the result is the general path's, byte for byte
   * (test/unit/domain/segments/rowPreparer.test.ts compares the two).
   * One piece (~110 lines) on purpose: it is the hottest loop of Prepare, and its state (the write position
   * `p`, the hasher, the target bytes, the JSON start) runs through every value in order; split into calls,
   * that state would have to travel through arguments and results on every value of every row.
   */
  private preparePlain(fields: readonly string[], line: number, out: RowBatchWriter): boolean {
    const columns = this.columns!;
    const raw = fields[columns.email]!;
    const firstName = columns.firstName === -1 ? '' : fields[columns.firstName]!;
    const lastName = columns.lastName === -1 ? '' : fields[columns.lastName]!;
    const phone = columns.phone === -1 ? '' : fields[columns.phone]!;
    if (firstName.length > MAX_FIELD_LENGTH || lastName.length > MAX_FIELD_LENGTH) return false;
    if (phone.length > MAX_FIELD_LENGTH) return false;
    const fieldColumns = columns.fields;
    const values = this.values;
    let valueBytes = raw.length + firstName.length + lastName.length + phone.length;
    for (let i = 0; i < fieldColumns.length; i++) valueBytes += fields[fieldColumns[i]!.index]!.length;

    // Room for the whole contact first (UTF-8 takes at most 3 bytes per UTF-16 code unit): bytes written
    // past `json.pos` count only once it moves, at the end.
    const json = out.json;
    json.reserve(3 * valueBytes + this.literalBytes);
    const jsonStart = json.pos;
    // Where the email's UTF-8 bytes go in the JSON: after `{"email":"`.
    const emailFrom = jsonStart + EMAIL_KEY.length + 1;
    const emailHash = this.emailHash;
    const eager = this.writeEmailFirst ? json.bytes : undefined;
    let email = raw;
    let p = plainEmail(email, emailHash, eager, emailFrom);
    if (p < 0) {
      // Stray spaces or capitals around an ASCII address: trimmed and lower-cased, as normaliseEmail does
      // (NFC changes no ASCII text); the row keeps the email as found too, as `prepare` does.
      if (!isAscii(raw)) return false;
      email = raw.trim().toLowerCase();
      if (email === raw) return false;
      p = plainEmail(email, emailHash, eager, emailFrom);
      if (p < 0) return false;
    }
    const { hi, lo } = emailHash;
    const previous = this.previous;
    const at = previous.find(hi, lo);
    if (at !== -1 && !previous.sameEmail(at, email)) return false;

    // A new contact is sent: its JSON is written in the same scan. A known one is only scanned and hashed
    // (an incremental run's rows are mostly unchanged), and encoded afterwards if it changed.
    const write = at === -1 || this.options.fullResync;
    const bytes = write ? json.bytes : undefined;
    if (bytes) {
      put(bytes, jsonStart, EMAIL_KEY);
      bytes[emailFrom - 1] = 0x22;
      // A new email on a run that did not write it first (`writeEmailFirst`): written now.
      if (!eager) p = plainEmail(email, emailHash, bytes, emailFrom);
    }
    const emailTo = p;
    if (bytes) bytes[p++] = 0x22;
    const h = this.hasher.reset();
    if (firstName !== '') p = put(bytes, p, FIRST_NAME_KEY);
    p = plainValue(firstName, true, h, bytes, p);
    if (p < 0) return false;
    if (lastName !== '') p = put(bytes, p, LAST_NAME_KEY);
    p = plainValue(lastName, true, h, bytes, p);
    if (p < 0) return false;
    if (phone !== '') p = put(bytes, p, PHONE_KEY);
    p = plainValue(phone, false, h, bytes, p);
    if (p < 0) return false;
    const tags = this.options.mapping.tags.fixed;
    if (tags.length) {
      p = put(bytes, p, TAGS_KEY);
      for (let i = 0; i < tags.length; i++) {
        if (i) p = put(bytes, p, COMMA);
        p = plainValue(tags[i]!, false, h, bytes, p);
      }
      p = put(bytes, p, CLOSE_ARRAY);
    }
    h.update(TAGS_END);
    const fieldHeads = this.encoder!.fieldHeads;
    let sent = 0;
    for (let i = 0; i < fieldColumns.length; i++) {
      const value = fields[fieldColumns[i]!.index]!;
      values[i] = value;
      // Empty custom values are neither sent nor hashed (as in `prepare`).
      if (value === '') continue;
      p = put(bytes, p, sent++ ? FIELD_SEPARATOR : FIELDS_KEY);
      p = put(bytes, p, fieldHeads[i]!);
      h.update(this.fieldIdTexts[i]!);
      p = plainValue(value, false, h, bytes, p);
      if (p < 0) return false;
    }
    if (sent) p = put(bytes, p, CLOSE_FIELDS);
    p = put(bytes, p, this.encoder!.tail);
    const { hi: chi, lo: clo } = h.update(this.listIdText).digest(this.contentHash);

    const unchanged = at !== -1 && previous.sameContent(at, chi, clo);
    const send = this.options.fullResync || !unchanged;
    if (send && !write) {
      // A known contact that changed: its values are plain, so they are its normalised values.
      this.encoder!.write(json, email, firstName, lastName, phone, tags, values);
      p = json.pos;
      json.pos = jsonStart;
    }
    // Too large for a request: the general path rejects it with the size.
    if (send && p - jsonStart > this.largestContact) return false;
    const jsonEnd = send ? p : jsonStart;
    json.pos = jsonEnd;
    if (send) json.ascii(',');
    const text = out.out;
    const start = text.pos;
    // A new email's bytes for the target snapshot: copied from its JSON (`write` is true for a new one).
    if (at === -1) text.copy(json.bytes, emailFrom, emailTo);
    const emailEnd = text.pos;
    if (raw !== email) text.text(raw);
    writeRow(out, unchanged, line, hi, lo, chi, clo, at, start, emailEnd, text.pos, jsonStart, jsonEnd);
    return true;
  }

  /** Adds `value`'s email hash to `held` when it normalises to a valid email. */
  private holdIfEmail(value: string, held: number[]): void {
    const email = normaliseEmail(value);
    if (email === '' || emailProblem(email)) return;
    const { hi, lo } = hash64(email, this.emailHash);
    held.push(hi, lo);
  }

  private reject(
    out: RowBatchWriter,
    line: number,
    rawEmail: string,
    reason: RejectReason,
    detail: string,
    held?: number[],
  ): void {
    const r = out.row();
    writeRejectedRow(out.ints, r, line);
    // One shape for every note (`held` undefined when none), as for batches.
    out.notes.push({ reason, detail, rawEmail, held: held?.length ? held : undefined });
  }
}
