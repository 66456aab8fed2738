/**
 * Packs serialised bulk-import contacts into request bodies and request bodies into slices.
 *
 * ActiveCampaign's limits (docs/activecampaign.md, "Bulk import"; developers.activecampaign.com/reference/
 * bulk-import-contacts): at most 250 contacts per request, and the body under 400,000 bytes. The byte count
 * is exact: the body is assembled from the very strings we measure, so `JSON.stringify(JSON.parse(body))`
 * (what the pusher sends) has the same bytes.
 */
import { JsonBuffer } from './jsonBuffer';

/** Bulk import accepts at most 250 contacts per request (docs/activecampaign.md, "Bulk import"). */
export const MAX_CONTACTS_PER_BULK_IMPORT = 250;
/** …and a body under 400,000 bytes, i.e. 399,999 or less (docs/activecampaign.md, "Bulk import"). */
export const MAX_BULK_IMPORT_BYTES = 399_999;

/** Limits for packing; defaults are ActiveCampaign's. */
export interface PackingLimits {
  /** Contacts per request (ActiveCampaign: at most 250). */
  maxContactsPerRequest: number;
  /** Largest body in bytes, inclusive (ActiveCampaign: under 400,000, so 399,999). */
  maxBodyBytes: number;
  /**
   * Requests per staged slice: one Push activity submits one slice. Larger slices mean fewer blobs to write
   * and read, and a storage request costs far more than its bytes (Azurite spends milliseconds of CPU per
   * slice upload; bench/results/pipeline.md): at 50 per slice a million contacts are staged in 78 blobs. 50
   * sequential requests under the 100/min bulk budget (docs/activecampaign.md) are ~30 s of work per Push
   * activity.
   */
  requestsPerSlice: number;
  /** Sent as `exclude_automations` (true makes imports faster, per ActiveCampaign). */
  excludeAutomations: boolean;
}

/** ActiveCampaign's documented limits, fifty requests (up to 12,500 contacts) per slice, automations excluded. */
export const DEFAULT_PACKING_LIMITS: PackingLimits = {
  maxContactsPerRequest: MAX_CONTACTS_PER_BULK_IMPORT,
  maxBodyBytes: MAX_BULK_IMPORT_BYTES,
  requestsPerSlice: 50,
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
  /**
   * Hands `bytes` back to the packer for a later slice once nothing reads them any more (e.g. once they are
   * compressed); `bytes` and `json` throw after it, and a second call does nothing. Optional: a slice never
   * released is simply garbage. Saves allocating ~2 MB per slice, which on the accepting thread meant a
   * garbage collection every few slices (external memory pressure).
   */
  release(): void;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const BODY_HEAD = '{"contacts":[';
const COMMA = 0x2c;

/**
 * Accumulates contacts; calls `onSlice` each time a slice is full (and once more on `flush`).
 * Each contact is UTF-8-encoded exactly once: written in place here (`beginContact` … `endContact`, into
 * this buffer) or elsewhere (`addEncoded`, e.g. by a row preparer on another thread). The open request
 * is a list of runs of comma-separated contacts in their source buffers; they are copied once, a run at a
 * time, into the slice's bytes when the request closes. The byte count of each contact is the size check.
 */
export class RequestPacker extends JsonBuffer {
  private readonly bodyHead: Uint8Array;
  private readonly bodyTail: Uint8Array;
  private readonly emptyBodyBytes: number;
  private readonly largestContact: number;
  private bodyBytes = 0;
  private bodyContacts = 0;
  /** The open request's runs: `runSource[k][runFrom[k], runTo[k])` are contacts separated by commas. */
  private runSource: Uint8Array[] = [];
  private runFrom: number[] = [];
  private runTo: number[] = [];
  /** Where the contact being written in place starts. */
  private start = 0;
  /** The open slice's JSON so far: its head and closed requests. */
  private slice = new JsonBuffer(64 * 1024);
  private sliceRequests = 0;
  private sliceContacts = 0;
  private sliceNumber = 0;
  /** Buffers of released slices, reused for the next ones. */
  private readonly spare: Uint8Array[] = [];
  private requestTotal = 0;
  private contactTotal = 0;

  constructor(
    private readonly limits: PackingLimits,
    private readonly onSlice: (slice: PackedSlice) => void,
  ) {
    super(64 * 1024);
    this.bodyHead = encoder.encode(BODY_HEAD);
    this.bodyTail = encoder.encode(bodyTail(limits.excludeAutomations));
    this.emptyBodyBytes = this.bodyHead.length + this.bodyTail.length;
    this.largestContact = largestContactBytes(limits);
  }

  /** Total requests and contacts packed so far (including unflushed ones). */
  get totals(): { requests: number; contacts: number; slices: number } {
    return {
      requests: this.requestTotal + (this.bodyContacts ? 1 : 0),
      contacts: this.contactTotal,
      slices: this.sliceNumber + (this.sliceRequests || this.bodyContacts ? 1 : 0),
    };
  }

  /** True when a contact of `bytes` bytes could never fit in a body on its own. */
  tooLarge(bytes: number): boolean {
    return bytes > this.largestContact;
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
    this.utf8(contactJson);
    return this.endContact();
  }

  /**
   * Adds one contact already encoded as JSON in `source[from, to)`, unless `tooLarge`; returns its size.
   * Contacts encoded one after another with a comma between them (`source[to] === ','`) are kept as one
   * run and copied together.
   */
  addEncoded(source: Uint8Array, from: number, to: number): number {
    const bytes = to - from;
    if (this.place(bytes)) this.addRun(source, from, to);
    return bytes;
  }

  /** Starts writing one contact's JSON in place (then `ascii`/`string` pieces, then `endContact`). */
  beginContact(): void {
    // Nothing in this buffer is referenced by an open request any more: start over.
    if (this.bodyContacts === 0) this.pos = 0;
    this.start = this.pos;
  }

  /** Finishes the contact begun by `beginContact`: packs it unless `tooLarge`; returns its UTF-8 size. */
  endContact(): number {
    const bytes = this.pos - this.start;
    if (this.tooLarge(bytes)) {
      this.pos = this.start;
      return bytes;
    }
    if (!this.fits(bytes)) {
      this.closeRequest();
      // Nothing before it is referenced any more: move it to the front so that this buffer stays small.
      this.bytes.copyWithin(0, this.start, this.pos);
      this.start = 0;
      this.pos = bytes;
    }
    this.count(bytes);
    this.addRun(this.bytes, this.start, this.pos);
    // A comma after it, so that the next contact written here continues the run.
    this.reserve(1);
    this.bytes[this.pos++] = COMMA;
    return bytes;
  }

  /** Whether a contact of `bytes` fits in the open request. */
  private fits(bytes: number): boolean {
    return (
      this.bodyContacts < this.limits.maxContactsPerRequest &&
      this.emptyBodyBytes + this.bodyBytes + (this.bodyContacts ? 1 : 0) + bytes <= this.limits.maxBodyBytes
    );
  }

  /** Counts a contact of `bytes` into the open request, closing it first when it does not fit. */
  private place(bytes: number): boolean {
    if (this.tooLarge(bytes)) return false;
    if (!this.fits(bytes)) this.closeRequest();
    this.count(bytes);
    return true;
  }

  private count(bytes: number): void {
    this.bodyBytes += (this.bodyContacts ? 1 : 0) + bytes;
    this.bodyContacts++;
    this.contactTotal++;
  }

  private addRun(source: Uint8Array, from: number, to: number): void {
    const k = this.runSource.length - 1;
    if (k >= 0 && this.runSource[k] === source && this.runTo[k]! + 1 === from && source[from - 1] === COMMA) {
      this.runTo[k] = to;
      return;
    }
    this.runSource.push(source);
    this.runFrom.push(from);
    this.runTo.push(to);
  }

  /**
   * Stops reading contacts from `buffer`: the open request's runs in it (contacts added with `addEncoded`
   * and not yet copied, at most one request's worth) are copied into this packer's own memory, so the
   * caller may overwrite `buffer` at once (e.g. reuse it for another batch of rows).
   */
  detach(buffer: ArrayBufferLike): void {
    let own = false;
    for (let k = 0; k < this.runSource.length; k++) if (this.runSource[k] === this.bytes) own = true;
    // Nothing of the open request is in this packer's memory: start it over (it stays one request large).
    if (!own) this.pos = 0;
    for (let k = 0; k < this.runSource.length; k++) {
      const source = this.runSource[k]!;
      if (source.buffer !== buffer) continue;
      const from = this.runFrom[k]!;
      const to = this.runTo[k]!;
      this.reserve(to - from);
      this.bytes.set(source.subarray(from, to), this.pos);
      this.runSource[k] = this.bytes;
      this.runFrom[k] = this.pos;
      this.runTo[k] = this.pos += to - from;
    }
  }

  /** Closes the open request and slice. */
  flush(): void {
    if (this.bodyContacts) this.closeRequest();
    if (this.sliceRequests) this.closeSlice();
  }

  /** Appends the open request to the open slice's bytes (its only copy). */
  private closeRequest(): void {
    const bytes = this.emptyBodyBytes + this.bodyBytes;
    const slice = this.slice;
    if (this.sliceRequests === 0) slice.utf8(`{"version":1,"slice":${this.sliceNumber + 1},"requests":[`);
    else slice.piece(COMMA_BYTES);
    slice.utf8(`{"contactCount":${this.bodyContacts},"bytes":${bytes},"body":`);
    slice.piece(this.bodyHead);
    for (let k = 0; k < this.runSource.length; k++) {
      if (k) slice.piece(COMMA_BYTES);
      slice.copy(this.runSource[k]!, this.runFrom[k]!, this.runTo[k]!);
    }
    slice.piece(this.bodyTail);
    slice.piece(CLOSE_OBJECT);
    this.runSource = [];
    this.runFrom = [];
    this.runTo = [];
    this.sliceRequests++;
    this.sliceContacts += this.bodyContacts;
    this.requestTotal++;
    this.bodyBytes = 0;
    this.bodyContacts = 0;
    if (this.sliceRequests === this.limits.requestsPerSlice) this.closeSlice();
  }

  private closeSlice(): void {
    this.sliceNumber++;
    const slice = this.slice;
    slice.piece(CLOSE_SLICE);
    const buffer = slice.bytes;
    const done = new EncodedSlice(
      this.sliceNumber,
      buffer.subarray(0, slice.pos),
      this.sliceRequests,
      this.sliceContacts,
      () => {
        // A few spares cover the slices compressed at once; more would only hold memory.
        if (this.spare.length < MAX_SPARE_BUFFERS) this.spare.push(buffer);
      },
    );
    // The bytes go with the slice (no copy); the next slice gets a released buffer, or one of the same size.
    this.slice = new JsonBuffer(0);
    this.slice.bytes = this.spare.pop() ?? new Uint8Array(buffer.length);
    this.sliceRequests = 0;
    this.sliceContacts = 0;
    this.onSlice(done);
  }
}

const COMMA_BYTES = encoder.encode(',');
const CLOSE_OBJECT = encoder.encode('}');
const CLOSE_SLICE = encoder.encode(']}');

/** The end of a request body after its contacts. */
function bodyTail(excludeAutomations: boolean): string {
  return `],"exclude_automations":${excludeAutomations}}`;
}

/** The most JSON bytes one contact may have and still fit in a request body on its own under `limits`. */
export function largestContactBytes(limits: PackingLimits): number {
  return limits.maxBodyBytes - BODY_HEAD.length - bodyTail(limits.excludeAutomations).length;
}

/** Released slice buffers kept for reuse. */
const MAX_SPARE_BUFFERS = 4;

class EncodedSlice implements PackedSlice {
  private released = false;

  constructor(
    readonly number: number,
    private readonly ownBytes: Uint8Array,
    readonly requests: number,
    readonly contacts: number,
    private readonly onRelease: () => void,
  ) {}

  get bytes(): Uint8Array {
    if (this.released)
      throw new Error(`slice ${this.number} was released: its buffer holds another slice now`);
    return this.ownBytes;
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    this.onRelease();
  }

  get json(): string {
    return decoder.decode(this.bytes);
  }
}
