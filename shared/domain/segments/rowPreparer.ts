/**
 * The per-row half of Prepare that needs no state shared between rows: map → normalise → validate → hash
 * → look up in the previous snapshot → encode the contact's JSON when it will be sent. Its output is a
 * `RowBatch`, a compact binary record per row (typed arrays: new ones, or views of shared memory), that
 * `SegmentPipeline.acceptBatch` consumes in the export's order for the stateful half (dedupe, diff, cap,
 * packing, the target snapshot). Because nothing here depends on other rows, chunks of a file can be
 * prepared on several threads at once (shared/adapters/blob/rowPreparerPool.ts) with the same result as
 * preparing them one after another.
 */
import { TextDecoder } from 'node:util';

import { InputFileError } from '../../errors';
import type { CsvFormat } from './cdmModel';
import * as contact from './contact';
import { emailProblem, normaliseEmail, normaliseName, normaliseText, plainEmail } from './contact';
import { type CsvDialect, type CsvRecordSink, CsvTokenizer } from './csvTokenizer';
import type { ColumnIndexes, ExportMapping } from './exportMapping';
import * as hashing from './hash64';
import { type Hash64, hash64, Hasher64 } from './hash64';
import * as jsonBuffer from './jsonBuffer';
import { BulkContactEncoder, JsonBuffer } from './jsonBuffer';
import { nfcStable } from './nfc';
import type { RejectReason } from './rejectedRows';
import { largestContactBytes, type PackingLimits } from './requestPacker';

// Module-level copies of imported constants for the hot loops: see hash64.ts.
const { MAX_FIELD_LENGTH } = contact;
const { MUL1, MUL2, SEPARATOR } = hashing;
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

/** Int32 slots per row in `RowBatch.ints`. */
const ROW_INTS = 12;
// Slot offsets within a row.
/** `ROW_CONTACT` or `ROW_REJECTED`, plus flags. */
const KIND = 0;
/** Physical line where the record starts. */
const LINE = 1;
const EMAIL_HI = 2;
const EMAIL_LO = 3;
const CONTENT_HI = 4;
const CONTENT_LO = 5;
/** Index in the previous snapshot, or -1. */
const PREVIOUS = 6;
/** `bytes[START, EMAIL_END)`: the normalised email, UTF-8, for an email the previous snapshot lacks. */
const START = 7;
const EMAIL_END = 8;
/** `bytes[EMAIL_END, RAW_END)`: the email as found, when it differs from the normalised one. */
const RAW_END = 9;
/**
 * `json[JSON_START, JSON_END)`: the contact's bulk-import JSON when it is to be sent (else empty). A comma
 * follows each, so the JSON of consecutive contacts is one comma-separated run for the packer to copy.
 */
const JSON_START = 10;
const JSON_END = 11;
/** A valid contact (`KIND` may carry `ROW_UNCHANGED`). */
const ROW_CONTACT = 0;
/** A rejected row: its reason is the batch's next note. */
const ROW_REJECTED = 1;
/** Flag: the previous snapshot holds this email with the same content. */
const ROW_UNCHANGED = 2;
// Local constants, exported here: see hash64.ts for why hot loops must not read `export const`s.
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

/** Why a row was rejected, and the email hashes it holds (see `SegmentPipeline`'s `held`). */
export interface RowNote {
  reason: RejectReason;
  detail: string;
  /** The email cell as found. */
  rawEmail: string;
  /** Email hashes (hi, lo pairs) that stay in the segment though the row is rejected (undefined: none). */
  held: number[] | undefined;
}

/**
 * Prepared rows of one chunk: `rows` × `ROW_INTS` ints, their bytes, one note per rejected row. Lines are
 * counted from 1 at the chunk's first byte (`SegmentPipeline` is handed them relative to the file).
 */
export interface RowBatch {
  rows: number;
  /** Contacts' JSON, each followed by a comma. */
  json: Uint8Array;
  /** Line breaks in the chunk (the next chunk starts that many lines further). */
  lineBreaks: number;
  ints: Int32Array;
  bytes: Uint8Array;
  notes: RowNote[];
  /** The chunk's file is bad at this (chunk) line: the rows above come before the error. */
  error: { line: number | undefined; detail: string } | undefined;
}

/**
 * Reusable memory a batch is copied into instead of new arrays: shared with the thread that accepts the
 * batch, so a million-row Prepare does not allocate (and collect) ~250 MB of batch arrays on two threads.
 * A buffer too small for a batch is replaced in this object by a larger one (the owner keeps the object).
 */
export interface BatchBuffers {
  ints: SharedArrayBuffer;
  bytes: SharedArrayBuffer;
  json: SharedArrayBuffer;
}

/** Collects prepared rows. */
export class RowBatchWriter {
  ints = new Int32Array(ROW_INTS * 1024);
  readonly out = new JsonBuffer(64 * 1024);
  readonly json = new JsonBuffer(256 * 1024);
  notes: RowNote[] = [];
  rows = 0;

  /** Starts a row; returns its first int slot. */
  row(): number {
    const at = this.rows * ROW_INTS;
    if (at + ROW_INTS > this.ints.length) {
      const grown = new Int32Array(this.ints.length * 2);
      grown.set(this.ints);
      this.ints = grown;
    }
    this.rows++;
    return at;
  }

  /**
   * The rows so far, as a batch of their own (copies: the writer can be reused), in new arrays or, given
   * `into`, in views of its buffers (grown there when too small).
   */
  take(lineBreaks = 0, into?: BatchBuffers): RowBatch {
    const ints = this.ints.subarray(0, this.rows * ROW_INTS);
    const bytes = this.out.bytes.subarray(0, this.out.pos);
    const json = this.json.bytes.subarray(0, this.json.pos);
    const batch = rowBatch(
      this.rows,
      lineBreaks,
      into ? new Int32Array(copyInto(into, 'ints', ints), 0, ints.length) : ints.slice(),
      into ? new Uint8Array(copyInto(into, 'bytes', bytes), 0, bytes.length) : bytes.slice(),
      into ? new Uint8Array(copyInto(into, 'json', json), 0, json.length) : json.slice(),
      this.notes,
      undefined,
    );
    this.rows = 0;
    this.out.pos = 0;
    this.json.pos = 0;
    this.notes = [];
    return batch;
  }
}

/**
 * A batch object, always with the same properties in the same order (`error` too, undefined when none), so
 * the thread that accepts batches sees one object shape whether a batch was prepared inline, copied or in
 * shared memory (a second shape deoptimised `SegmentPipeline.acceptBatch`, the hottest loop there).
 */
export function rowBatch(
  rows: number,
  lineBreaks: number,
  ints: Int32Array,
  bytes: Uint8Array,
  json: Uint8Array,
  notes: RowNote[],
  error: RowBatch['error'],
): RowBatch {
  return { rows, lineBreaks, ints, bytes, json, notes, error };
}

/** Copies `data` to the start of `into[key]`, first replacing that buffer when it is too small. */
function copyInto(
  into: BatchBuffers,
  key: keyof BatchBuffers,
  data: Int32Array | Uint8Array,
): SharedArrayBuffer {
  if (into[key].byteLength < data.byteLength) into[key] = new SharedArrayBuffer(data.byteLength * 2);
  const buffer = into[key];
  if (data instanceof Int32Array) new Int32Array(buffer, 0, data.length).set(data);
  else new Uint8Array(buffer, 0, data.length).set(data);
  return buffer;
}

/** Why a row is rejected as `hash_collision` (about once in 10⁸ million-contact runs). */
const COLLISION_DETAIL =
  'another email of this export has the same 64-bit hash, so the two cannot be told apart; not exported (please report this)';
export { COLLISION_DETAIL };

/** Fixed tags the plain path writes as they are (`plainValue` without the name rule, at most 255). */
const PLAIN_TAG = /^(?=.{1,255}$)[!#-[\]-~](?:[ !#-[\]-~]*[!#-[\]-~])?$/;

/** What `Hasher64.update('\u0002')` mixes in between the tags and the custom fields. */
const TAGS_END = '\u0002';

/**
 * One scan of a "plain" value, which normaliseText / normaliseName leave as it is and JSON.stringify writes
 * without escapes: no control character, `"`, `\\`, NBSP or other Unicode space, no surrogate (emoji are
 * left to the general path too), no space at either end, for a name no two spaces in a row, and NFC already
 * (checked with `normalize` only when a code unit is not `nfcStable`: a combining mark, say).
 * Mixes it into `hasher` as `update` does and, unless empty, writes it at `p` as a JSON string (UTF-8) when
 * given `bytes`. Returns the position after it (`p` when not writing), or -1 when the value is not plain
 * (bytes written then do not count).
 */
function plainValue(
  value: string,
  name: boolean,
  hasher: Hasher64,
  bytes: Uint8Array | undefined,
  p: number,
): number {
  const n = value.length;
  let h1 = hasher.h1;
  let h2 = hasher.h2;
  if (n !== 0) {
    if (value.charCodeAt(0) === 0x20 || value.charCodeAt(n - 1) === 0x20) return -1;
    if (bytes) bytes[p++] = 0x22;
    let space = false;
    let unstable = false;
    for (let i = 0; i < n; i++) {
      const c = value.charCodeAt(i);
      if (c < 0x80) {
        if (c < 0x20 || c === 0x22 || c === 0x5c || c === 0x7f) return -1;
        if (c === 0x20) {
          if (space && name) return -1;
          space = true;
        } else space = false;
        if (bytes) bytes[p++] = c;
      } else if (c < 0x800) {
        // C1 controls and NBSP (trimmed, collapsed) are left to the general path.
        if (c <= 0xa0) return -1;
        if (c >= 0x300 && !nfcStable(c)) unstable = true;
        space = false;
        if (bytes) {
          bytes[p++] = 0xc0 | (c >> 6);
          bytes[p++] = 0x80 | (c & 0x3f);
        }
      } else {
        if ((c >= 0xd800 && c <= 0xdfff) || isWideSpace(c)) return -1;
        if (!nfcStable(c)) unstable = true;
        space = false;
        if (bytes) {
          bytes[p++] = 0xe0 | (c >> 12);
          bytes[p++] = 0x80 | ((c >> 6) & 0x3f);
          bytes[p++] = 0x80 | (c & 0x3f);
        }
      }
      h1 = Math.imul(h1 ^ c, MUL1);
      h2 = Math.imul(h2 ^ c, MUL2);
    }
    if (unstable && value.normalize('NFC') !== value) return -1;
    if (bytes) bytes[p++] = 0x22;
  }
  hasher.h1 = Math.imul(h1 ^ SEPARATOR, MUL1);
  hasher.h2 = Math.imul(h2 ^ SEPARATOR, MUL2);
  return p;
}

/** The JS whitespace (`\\s`, what `trim` removes) from U+0800 on: Zs, BOM, line and paragraph separators. */
function isWideSpace(c: number): boolean {
  return (
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000 ||
    c === 0xfeff
  );
}

/** True when every code unit of `text` is ASCII. */
function isAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0x7f) return false;
  return true;
}

/** Copies `piece` to `bytes` at `p` (nothing without `bytes`); returns the position after it. */
function put(bytes: Uint8Array | undefined, p: number, piece: Uint8Array): number {
  if (!bytes) return p;
  // `set` beats a loop here even for these short pieces (row preparation alone ~2–3% faster).
  bytes.set(piece, p);
  return p + piece.length;
}

/** Adds a contact's row (see the slot constants). */
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
  const r = out.row();
  const ints = out.ints;
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
    const tags = this.tagsOf(fields);
    const fieldColumns = columns.fields;
    const values = this.values;
    for (let i = 0; i < fieldColumns.length; i++) values[i] = normaliseText(fields[fieldColumns[i]!.index]);
    const tooLong = this.tooLong(firstName, lastName, phone, tags);
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

  private tagsOf(fields: readonly string[]): string[] {
    const { fixed, separator } = this.options.mapping.tags;
    const column = this.columns!.tags;
    if (column === -1) return fixed;
    const raw = fields[column] ?? '';
    if (raw.trim() === '') return fixed;
    const tags = fixed.slice();
    for (const part of raw.split(separator)) {
      const tag = normaliseName(part);
      if (tag !== '' && !tags.includes(tag)) tags.push(tag);
    }
    return tags;
  }

  private tooLong(firstName: string, lastName: string, phone: string, tags: string[]): string | undefined {
    const { mapping } = this.options;
    if (firstName.length > MAX_FIELD_LENGTH)
      return `${mapping.firstName} is longer than ${MAX_FIELD_LENGTH} characters`;
    if (lastName.length > MAX_FIELD_LENGTH)
      return `${mapping.lastName} is longer than ${MAX_FIELD_LENGTH} characters`;
    if (phone.length > MAX_FIELD_LENGTH)
      return `${mapping.phone} is longer than ${MAX_FIELD_LENGTH} characters`;
    // A loop, not `tags.find(…)`: no closure per row.
    for (let i = 0; i < tags.length; i++) {
      if (tags[i]!.length > MAX_FIELD_LENGTH)
        return `a tag in ${mapping.tags.column} is longer than ${MAX_FIELD_LENGTH} characters`;
    }
    return undefined;
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
    out.ints[r + KIND] = ROW_REJECTED;
    out.ints[r + LINE] = line;
    // One shape for every note (`held` undefined when none), as for batches.
    out.notes.push({ reason, detail, rawEmail, held: held?.length ? held : undefined });
  }
}

/** One chunk of a file: whole records (or the file's unterminated tail), as raw bytes. */
export interface ChunkJob {
  file: string;
  columns: ColumnIndexes;
  encoding: CsvFormat['encoding'];
  dialect: CsvDialect;
  bytes: Uint8Array;
  /**
   * True when the chunk ends at a record boundary or the end of the file; false for a run of bytes with no
   * record end in sight (a record longer than the tokenizer allows, which then fails with its line).
   */
  complete: boolean;
}

/**
 * Decodes `job.bytes` and prepares each record into a batch (lines counted from 1 at the chunk's start).
 * The bytes start at a record boundary and are decoded on their own (`ignoreBOM`: a leading byte-order
 * mark was already taken off the file).
 */
export function prepareChunk(
  preparer: RowPreparer,
  job: ChunkJob,
  out: RowBatchWriter,
  /** Where the batch is copied (see `RowBatchWriter.take`). */
  into?: BatchBuffers,
): RowBatch {
  preparer.begin(job.columns);
  const tokenizer = new CsvTokenizer(job.file, job.dialect);
  const record = preparer.sinkInto(out);
  try {
    tokenizer.push(decodeWhole(job.bytes, job.encoding, job.file, tokenizer, job.complete), record);
    if (!job.complete) {
      throw new InputFileError(job.file, 'a record never ends (an unclosed quote, or not a CSV file)', {
        line: tokenizer.currentLine,
      });
    }
    tokenizer.end(record);
  } catch (error) {
    if (!(error instanceof InputFileError)) {
      // A bug, not a bad file: leave the writer empty for the next chunk.
      out.take();
      throw error;
    }
    // The bad file travels as data (lines counted from the chunk's start, like the rows'); the rows before
    // a bad record go with it and are accepted first, as when reading record by record.
    const batch = out.take(0, into);
    batch.error = { line: error.line, detail: error.detail };
    return batch;
  }
  return out.take(tokenizer.currentLine - 1, into);
}

/**
 * Decodes bytes that start at a record boundary on their own (`ignoreBOM`: a file's byte-order mark is
 * taken off before). Always through the streaming path: Node 20's one-shot `decode` of windows-1252 maps
 * 0x80–0x9F to C1 controls (as latin1) instead of the WHATWG table (0x8B → ‹), while the streaming path
 * uses the table; both modes of Prepare must read the same text.
 */
export function decodeWhole(
  bytes: Uint8Array,
  encoding: string,
  file: string,
  tokenizer: CsvTokenizer,
  /** False for an unterminated run of bytes, which may end inside a character: that is not an error. */
  complete = true,
): string {
  const decoder = new TextDecoder(encoding, { fatal: true, ignoreBOM: true });
  const text = decodeOrFail(decoder, bytes, encoding, file, tokenizer);
  if (!complete) return text;
  // A chunk that ends inside a character fails here, with its line.
  return text + decodeOrFail(decoder, undefined, encoding, file, tokenizer, text);
}

/**
 * `decoder.decode(bytes, { stream: true })` (`undefined` flushes the decoder), failing with the file and
 * the line of the first undecodable byte instead of the decoder's bare TypeError.
 */
export function decodeOrFail(
  decoder: TextDecoder,
  bytes: Uint8Array | undefined,
  encoding: string,
  file: string,
  tokenizer: CsvTokenizer,
  /** Text decoded before `bytes` that the tokenizer has not seen yet (for the line of an error). */
  before = '',
): string {
  try {
    return bytes ? decoder.decode(bytes, { stream: true }) : decoder.decode();
  } catch (error) {
    // Locate the bad bytes: decode leniently and count the lines before the first replacement character.
    const lenient = bytes ? new TextDecoder(encoding).decode(bytes) : '';
    const bad = lenient.indexOf('\ufffd');
    throw new InputFileError(
      file,
      `is not valid ${encoding} text (check the file's encoding setting; or it is not a CSV file)`,
      { line: tokenizer.lineAfter(before + (bad === -1 ? '' : lenient.slice(0, bad))), cause: error },
    );
  }
}
