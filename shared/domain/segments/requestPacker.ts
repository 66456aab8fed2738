/**
 * Packs serialised bulk-import contacts into request bodies and request bodies into slices.
 *
 * ActiveCampaign's limits (activecampaign-api.md, "Bulk import"; developers.activecampaign.com/reference/
 * bulk-import-contacts): at most 250 contacts per request, and the body under 400,000 bytes. The byte count
 * is exact: the body is assembled from the very strings we measure, so `JSON.stringify(JSON.parse(body))`
 * (what the pusher sends) has the same bytes.
 */
/** Bulk import accepts at most 250 contacts per request (activecampaign-api.md, "Bulk import"). */
export const MAX_CONTACTS_PER_BULK_IMPORT = 250;
/** …and a body under 400,000 bytes, i.e. 399,999 or less (activecampaign-api.md, "Bulk import"). */
export const MAX_BULK_IMPORT_BYTES = 399_999;

/** Limits for packing; defaults are ActiveCampaign's. */
export interface PackingLimits {
  /** Contacts per request (ActiveCampaign: at most 250). */
  maxContactsPerRequest: number;
  /** Largest body in bytes, inclusive (ActiveCampaign: under 400,000, so 399,999). */
  maxBodyBytes: number;
  /**
   * Requests per staged slice: one Push activity submits one slice. Larger slices mean fewer blobs to write
   * and read (per-request cost dominated staging: 965 slices of 4 requests took 3–5× as long to upload as
   * 97 of 40, bench/results/pipeline.md); 16 sequential requests under the 100/min budget (design.md) is
   * still only ~10 s of work per Push activity.
   */
  requestsPerSlice: number;
  /** Sent as `exclude_automations` (true makes imports faster, per ActiveCampaign). */
  excludeAutomations: boolean;
}

/** ActiveCampaign's documented limits, sixteen requests (up to 4,000 contacts) per slice, automations excluded. */
export const DEFAULT_PACKING_LIMITS: PackingLimits = {
  maxContactsPerRequest: MAX_CONTACTS_PER_BULK_IMPORT,
  maxBodyBytes: MAX_BULK_IMPORT_BYTES,
  requestsPerSlice: 16,
  excludeAutomations: true,
};

/** One completed slice: its 1-based number, its UTF-8 JSON bytes (what is stored), and what it holds. */
export interface PackedSlice {
  number: number;
  /** The slice file's bytes: contacts are encoded once and copied, never re-serialised. */
  bytes: Uint8Array;
  /** The same JSON as text (decoded on demand; the hot path uploads `bytes`). */
  readonly json: string;
  requests: number;
  contacts: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const BODY_HEAD = '{"contacts":[';
const COMMA = 0x2c;

/**
 * Accumulates contacts; calls `onSlice` each time a slice is full (and once more on `flush`).
 * Each contact is UTF-8-encoded exactly once, straight into the open request's byte buffer: the encoder's
 * byte count is the size check, and the buffer is the body (no string joins, no second encoding pass).
 */
export class RequestPacker {
  private readonly bodyHead: Uint8Array;
  private readonly bodyTail: Uint8Array;
  private readonly emptyBodyBytes: number;
  /** The open request's body between `[` and `]`: contacts separated by commas. */
  private body: Uint8Array;
  private bodyBytes = 0;
  private bodyContacts = 0;
  /** Where the contact being written starts and where writing is. */
  private start = 0;
  private pos = 0;
  /** The open slice's closed requests, as complete JSON objects. */
  private requests: Uint8Array[] = [];
  private requestsBytes = 0;
  private sliceContacts = 0;
  private sliceNumber = 0;
  private requestTotal = 0;
  private contactTotal = 0;

  constructor(
    private readonly limits: PackingLimits,
    private readonly onSlice: (slice: PackedSlice) => void,
  ) {
    this.bodyHead = encoder.encode(BODY_HEAD);
    this.bodyTail = encoder.encode(`],"exclude_automations":${limits.excludeAutomations}}`);
    this.emptyBodyBytes = this.bodyHead.length + this.bodyTail.length;
    this.body = new Uint8Array(64 * 1024);
  }

  /** Total requests and contacts packed so far (including unflushed ones). */
  get totals(): { requests: number; contacts: number; slices: number } {
    return {
      requests: this.requestTotal + (this.bodyContacts ? 1 : 0),
      contacts: this.contactTotal,
      slices: this.sliceNumber + (this.requests.length || this.bodyContacts ? 1 : 0),
    };
  }

  /** True when a contact of `bytes` bytes could never fit in a body on its own. */
  tooLarge(bytes: number): boolean {
    return this.emptyBodyBytes + bytes > this.limits.maxBodyBytes;
  }

  /** Adds one serialised contact of `bytes` UTF-8 bytes (check `tooLarge` first). */
  add(contactJson: string, bytes: number): void {
    if (this.tooLarge(bytes)) throw new Error(`contact of ${bytes} bytes cannot fit in a bulk request`);
    const added = this.tryAdd(contactJson);
    if (added !== bytes) throw new Error(`contact is ${added} UTF-8 bytes, not ${bytes}`);
  }

  /**
   * Adds one serialised contact unless it could never fit in a body (`tooLarge`); returns its exact UTF-8
   * size either way, so the caller learns the size from the one encoding pass.
   */
  tryAdd(contactJson: string): number {
    this.beginContact();
    this.encoded(contactJson);
    return this.endContact();
  }

  /** Starts writing one contact's JSON in place (then `ascii`/`string` pieces, then `endContact`). */
  beginContact(): void {
    this.start = this.bodyContacts ? this.bodyBytes + 1 : 0;
    this.pos = this.start;
  }

  /** Writes `text`, which the caller guarantees is ASCII with nothing to escape (a JSON literal piece). */
  ascii(text: string): void {
    const n = text.length;
    if (this.pos + n > this.body.length) this.growBody(this.pos + n);
    const body = this.body;
    let p = this.pos;
    for (let i = 0; i < n; i++) body[p++] = text.charCodeAt(i);
    this.pos = p;
  }

  /** Writes `value` as a JSON string literal (exactly `JSON.stringify(value)`, UTF-8). */
  string(value: string): void {
    const n = value.length;
    // UTF-8 needs at most 3 bytes per UTF-16 code unit on the paths below, plus the two quotes.
    if (this.pos + n * 3 + 2 > this.body.length) this.growBody(this.pos + n * 3 + 2);
    const body = this.body;
    const from = this.pos;
    let p = from;
    body[p++] = 0x22;
    for (let i = 0; i < n; i++) {
      const c = value.charCodeAt(i);
      if (c >= 0x20 && c < 0x80) {
        // ASCII other than `"` and `\` is its own JSON and UTF-8 (DEL too: JSON.stringify leaves it as is).
        if (c === 0x22 || c === 0x5c) return this.stringified(value, from);
        body[p++] = c;
      } else if (c >= 0x80 && c < 0x800) {
        body[p++] = 0xc0 | (c >> 6);
        body[p++] = 0x80 | (c & 0x3f);
      } else if (c >= 0x800 && (c < 0xd800 || c > 0xdfff)) {
        body[p++] = 0xe0 | (c >> 12);
        body[p++] = 0x80 | ((c >> 6) & 0x3f);
        body[p++] = 0x80 | (c & 0x3f);
      } else {
        // Control characters (escaped) and surrogates (pairs, or lone ones JSON.stringify escapes): rare.
        return this.stringified(value, from);
      }
    }
    body[p++] = 0x22;
    this.pos = p;
  }

  /** The general path of `string`: `JSON.stringify` then UTF-8, from `from` again. */
  private stringified(value: string, from: number): void {
    this.pos = from;
    this.encoded(JSON.stringify(value));
  }

  /** Finishes the contact begun by `beginContact`: packs it unless `tooLarge`; returns its UTF-8 size. */
  endContact(): number {
    const at = this.start;
    const bytes = this.pos - at;
    if (this.tooLarge(bytes)) return bytes;
    if (
      this.bodyContacts === this.limits.maxContactsPerRequest ||
      this.emptyBodyBytes + this.bodyBytes + (this.bodyContacts ? 1 : 0) + bytes > this.limits.maxBodyBytes
    ) {
      // Does not fit the open request: close it without this contact, then move the contact to the front.
      const encoded = this.body.slice(at, at + bytes);
      this.closeRequest();
      this.body.set(encoded, 0);
      this.bodyBytes = bytes;
    } else {
      if (at) this.body[at - 1] = COMMA;
      this.bodyBytes = at + bytes;
    }
    this.bodyContacts++;
    this.contactTotal++;
    return bytes;
  }

  /** Writes any text as UTF-8 (UTF-8 needs at most 3 bytes per UTF-16 code unit). */
  private encoded(text: string): void {
    const room = this.pos + text.length * 3;
    if (room > this.body.length) this.growBody(room);
    this.pos += encoder.encodeInto(text, this.body.subarray(this.pos)).written;
  }

  /** Closes the open request and slice. */
  flush(): void {
    if (this.bodyContacts) this.closeRequest();
    if (this.requests.length) this.closeSlice();
  }

  private growBody(needed: number): void {
    let size = this.body.length * 2;
    while (size < needed) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.body.subarray(0, this.pos));
    this.body = grown;
  }

  private closeRequest(): void {
    const bytes = this.emptyBodyBytes + this.bodyBytes;
    const head = encoder.encode(`{"contactCount":${this.bodyContacts},"bytes":${bytes},"body":`);
    const request = new Uint8Array(head.length + bytes + 1);
    let p = 0;
    request.set(head, p);
    p += head.length;
    request.set(this.bodyHead, p);
    p += this.bodyHead.length;
    request.set(this.body.subarray(0, this.bodyBytes), p);
    p += this.bodyBytes;
    request.set(this.bodyTail, p);
    p += this.bodyTail.length;
    request[p] = 0x7d; // }
    this.requests.push(request);
    this.requestsBytes += request.length;
    this.sliceContacts += this.bodyContacts;
    this.requestTotal++;
    this.bodyBytes = 0;
    this.bodyContacts = 0;
    if (this.requests.length === this.limits.requestsPerSlice) this.closeSlice();
  }

  private closeSlice(): void {
    this.sliceNumber++;
    const head = encoder.encode(`{"version":1,"slice":${this.sliceNumber},"requests":[`);
    const bytes = new Uint8Array(head.length + this.requestsBytes + (this.requests.length - 1) + 2);
    bytes.set(head, 0);
    let p = head.length;
    this.requests.forEach((request, i) => {
      if (i) bytes[p++] = COMMA;
      bytes.set(request, p);
      p += request.length;
    });
    bytes[p++] = 0x5d; // ]
    bytes[p] = 0x7d; // }
    const slice = new EncodedSlice(this.sliceNumber, bytes, this.requests.length, this.sliceContacts);
    this.requests = [];
    this.requestsBytes = 0;
    this.sliceContacts = 0;
    this.onSlice(slice);
  }
}

class EncodedSlice implements PackedSlice {
  constructor(
    readonly number: number,
    readonly bytes: Uint8Array,
    readonly requests: number,
    readonly contacts: number,
  ) {}

  get json(): string {
    return decoder.decode(this.bytes);
  }
}
