/**
 * A growable UTF-8 byte buffer that JSON is written into piece by piece: literal ASCII pieces, and string
 * values written exactly as `JSON.stringify(value)` encodes them. Used by the request packer (request
 * bodies) and by the row preparer (each contact's JSON, encoded once where the row is prepared).
 */
const encoder = new TextEncoder();

/** UTF-8 bytes written so far are `bytes[0, pos)`. */
export class JsonBuffer {
  bytes: Uint8Array;
  pos = 0;

  constructor(initialBytes = 64 * 1024) {
    this.bytes = new Uint8Array(initialBytes);
  }

  /** Makes room for `n` more bytes after `pos`. */
  reserve(n: number): void {
    const needed = this.pos + n;
    if (needed <= this.bytes.length) return;
    let size = this.bytes.length * 2;
    while (size < needed) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.bytes.subarray(0, this.pos));
    this.bytes = grown;
  }

  /** Writes `text`, which the caller guarantees is ASCII with nothing to escape (a JSON literal piece). */
  ascii(text: string): void {
    const n = text.length;
    this.reserve(n);
    const bytes = this.bytes;
    let p = this.pos;
    for (let i = 0; i < n; i++) bytes[p++] = text.charCodeAt(i);
    this.pos = p;
  }

  /** Copies a pre-encoded piece. */
  piece(piece: Uint8Array): void {
    const n = piece.length;
    this.reserve(n);
    const bytes = this.bytes;
    let p = this.pos;
    for (let i = 0; i < n; i++) bytes[p++] = piece[i]!;
    this.pos = p;
  }

  /** Writes `value` as a JSON string literal (exactly `JSON.stringify(value)`, UTF-8). */
  string(value: string): void {
    const n = value.length;
    // UTF-8 needs at most 3 bytes per UTF-16 code unit on the paths below, plus the two quotes.
    this.reserve(n * 3 + 2);
    const bytes = this.bytes;
    const from = this.pos;
    let p = from;
    bytes[p++] = 0x22;
    for (let i = 0; i < n; i++) {
      const c = value.charCodeAt(i);
      if (c >= 0x20 && c < 0x80) {
        // ASCII other than `"` and `\` is its own JSON and UTF-8 (DEL too: JSON.stringify leaves it as is).
        if (c === 0x22 || c === 0x5c) return this.stringified(value, from);
        bytes[p++] = c;
      } else if (c >= 0x80 && c < 0x800) {
        bytes[p++] = 0xc0 | (c >> 6);
        bytes[p++] = 0x80 | (c & 0x3f);
      } else if (c >= 0x800 && (c < 0xd800 || c > 0xdfff)) {
        bytes[p++] = 0xe0 | (c >> 12);
        bytes[p++] = 0x80 | ((c >> 6) & 0x3f);
        bytes[p++] = 0x80 | (c & 0x3f);
      } else {
        // Control characters (escaped) and surrogates (pairs, or lone ones JSON.stringify escapes): rare.
        return this.stringified(value, from);
      }
    }
    bytes[p++] = 0x22;
    this.pos = p;
  }

  /** Writes any text as UTF-8. */
  utf8(text: string): void {
    // UTF-8 needs at most 3 bytes per UTF-16 code unit.
    this.reserve(text.length * 3);
    this.pos += encoder.encodeInto(text, this.bytes.subarray(this.pos)).written;
  }

  /** Writes `text` as UTF-8, unquoted and unescaped (an ASCII loop for the common case). */
  text(text: string): void {
    const n = text.length;
    this.reserve(n);
    const bytes = this.bytes;
    const from = this.pos;
    let p = from;
    for (let i = 0; i < n; i++) {
      const c = text.charCodeAt(i);
      if (c > 0x7f) {
        this.pos = from;
        return this.utf8(text);
      }
      bytes[p++] = c;
    }
    this.pos = p;
  }

  /** Copies `source[from, to)` (bytes already encoded, e.g. by a row preparer). */
  copy(source: Uint8Array, from: number, to: number): void {
    const n = to - from;
    this.reserve(n);
    if (n > 96) {
      this.bytes.set(source.subarray(from, to), this.pos);
      this.pos += n;
      return;
    }
    // A short piece: a loop beats allocating a view per call (from ~100 bytes on, `set` wins).
    const bytes = this.bytes;
    let p = this.pos;
    for (let i = from; i < to; i++) bytes[p++] = source[i]!;
    this.pos = p;
  }

  /** The general path of `string`: `JSON.stringify` then UTF-8, from `from` again. */
  private stringified(value: string, from: number): void {
    this.pos = from;
    this.utf8(JSON.stringify(value));
  }
}

const utf8 = new TextEncoder();

/**
 * Writes bulk-import contacts for one list and one set of custom field ids: exactly
 * `bulkContactJson(contact, listId)` (contact.ts), with the literal pieces encoded once and no `Contact`
 * object per row. This runs for every contact sent (a million on a first run).
 */
export class BulkContactEncoder {
  /** `{"id":<id>,"value":` per field id. */
  readonly fieldHeads: Uint8Array[];
  /** `,"subscribe":[{"listid":<id>}]}`. */
  readonly tail: Uint8Array;

  constructor(listId: number, fieldIds: readonly number[]) {
    this.fieldHeads = fieldIds.map((id) => utf8.encode(`{"id":${id},"value":`));
    this.tail = utf8.encode(`,"subscribe":[{"listid":${listId}}]}`);
  }

  /** Writes one contact; `values[i]` is the value of field `fieldIds[i]` ('' is not sent). */
  write(
    out: JsonBuffer,
    email: string,
    firstName: string,
    lastName: string,
    phone: string,
    tags: readonly string[],
    values: readonly string[],
  ): void {
    out.piece(EMAIL_KEY);
    out.string(email);
    if (firstName) {
      out.piece(FIRST_NAME_KEY);
      out.string(firstName);
    }
    if (lastName) {
      out.piece(LAST_NAME_KEY);
      out.string(lastName);
    }
    if (phone) {
      out.piece(PHONE_KEY);
      out.string(phone);
    }
    if (tags.length) {
      out.piece(TAGS_KEY);
      for (let i = 0; i < tags.length; i++) {
        if (i) out.piece(COMMA);
        out.string(tags[i]!);
      }
      out.piece(CLOSE_ARRAY);
    }
    let fields = 0;
    for (let i = 0; i < values.length && i < this.fieldHeads.length; i++) {
      const value = values[i]!;
      if (value === '') continue;
      out.piece(fields++ ? FIELD_SEPARATOR : FIELDS_KEY);
      out.piece(this.fieldHeads[i]!);
      out.string(value);
    }
    if (fields) out.piece(CLOSE_FIELDS);
    out.piece(this.tail);
  }
}

const EMAIL_KEY = utf8.encode('{"email":');
const FIRST_NAME_KEY = utf8.encode(',"first_name":');
const LAST_NAME_KEY = utf8.encode(',"last_name":');
const PHONE_KEY = utf8.encode(',"phone":');
const TAGS_KEY = utf8.encode(',"tags":[');
const COMMA = utf8.encode(',');
const CLOSE_ARRAY = utf8.encode(']');
const FIELDS_KEY = utf8.encode(',"fields":[');
/** Closes the previous field object and separates the next. */
const FIELD_SEPARATOR = utf8.encode('},');
/** Closes the last field object and the array. */
const CLOSE_FIELDS = utf8.encode('}]');
// Local constants, exported here: see hash64.ts for why hot loops must not read `export const`s.
export {
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
};
