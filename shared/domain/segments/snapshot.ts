/**
 * An export's snapshot: for every contact ActiveCampaign confirmed, its email hash, content hash and email.
 *
 * Binary layout (little-endian), 16 bytes per contact plus the emails (needed to unsubscribe contacts that
 * left, in mirror mode):
 *   magic | count u32 | emailBytes u32 | count × (emailHi, emailLo, contentHi, contentLo) u32 | (count + 1) ×
 *   email offset u32 | emails, UTF-8, concatenated.
 * Magic "ACSNAP01": entries sorted by email hash (every snapshot an export keeps). "ACSNAPU1": entries in the
 * order a run met them, unsorted — a first run's target snapshot, written as it was collected (sorting a
 * million entries and gathering them in that order cost Prepare ~1 s); it is sorted when read, by the
 * finaliser, which runs once after the pushes and has time to spare.
 * 1,000,000 contacts ≈ 16 MB of hashes + 4 MB of offsets + the emails; the blob is stored gzipped.
 */

const MAGIC = 'ACSNAP01';
const UNSORTED_MAGIC = 'ACSNAPU1';
const HEADER_BYTES = 16;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A decoded, read-only snapshot, searchable by email hash. */
export class Snapshot {
  constructor(
    readonly count: number,
    readonly emailHi: Uint32Array,
    readonly emailLo: Uint32Array,
    readonly contentHi: Uint32Array,
    readonly contentLo: Uint32Array,
    readonly emailOffsets: Uint32Array,
    readonly emailBytes: Uint8Array,
    /**
     * False for entries in the order they were collected (`SnapshotBuilder.buildUnsorted`): such a snapshot
     * can be stored, but not searched or merged until `inHashOrder()` sorts it.
     */
    readonly sorted = true,
  ) {}

  /** This snapshot when sorted, else a sorted copy. */
  inHashOrder(): Snapshot {
    return this.sorted ? this : SnapshotBuilder.of(this).build();
  }

  /** A snapshot with no contacts (an export's first run, or a full resync baseline). */
  static empty(): Snapshot {
    const none = new Uint32Array(0);
    return new Snapshot(0, none, none, none, none, new Uint32Array(1), new Uint8Array(0));
  }

  /** Index of the contact with this email hash, or -1 (see `SnapshotLookup.find`). */
  find(hi: number, lo: number): number {
    return this.lookup.find(hi, lo);
  }

  /** True when entry `i` (an index `find` returned) has this content hash. */
  sameContent(i: number, contentHi: number, contentLo: number): boolean {
    return this.lookup.sameContent(i, contentHi, contentLo);
  }

  /** True when entry `i` is `email` (see `SnapshotLookup.sameEmail`). */
  sameEmail(i: number, email: string): boolean {
    return this.lookup.sameEmail(i, email);
  }

  /** The lookup tables, built once (in shared memory, so worker threads can search them without a copy). */
  get lookup(): SnapshotLookup {
    if (!this.sorted) throw new Error('an unsorted snapshot cannot be searched: sort it with inHashOrder()');
    return (this.lookupTable ??= SnapshotLookup.of(this));
  }

  private lookupTable: SnapshotLookup | undefined;

  /** The email of entry `i`. */
  emailAt(i: number): string {
    return decoder.decode(this.emailBytes.subarray(this.emailOffsets[i], this.emailOffsets[i + 1]));
  }
}

/** The plain data of a `SnapshotLookup`, for handing to a worker thread (shared, never copied). */
export interface SnapshotLookupTables {
  count: number;
  shift: number;
  entries: Uint32Array;
  starts: Uint32Array;
  emailOffsets: Uint32Array;
  emailBytes: Uint8Array;
}

/**
 * Finds a snapshot's entries by email hash. Hashes are uniform and sorted, so a table of where each value
 * of the top bits starts leaves about one entry to scan: O(1) instead of a 20-step binary search with a
 * cache miss per step (this runs once per row). Its arrays live in a SharedArrayBuffer, so the row
 * preparers on worker threads search the same memory.
 */
export class SnapshotLookup {
  private constructor(
    readonly count: number,
    private readonly shift: number,
    /**
     * The four hashes of each entry side by side (emailHi, emailLo, contentHi, contentLo): a lookup and its
     * content check touch one 16-byte slot instead of four arrays (one cache miss per row, not four).
     */
    private readonly entries: Uint32Array,
    private readonly starts: Uint32Array,
    private readonly emailOffsets: Uint32Array,
    private readonly emailBytes: Uint8Array,
  ) {}

  static of(snapshot: Snapshot): SnapshotLookup {
    const count = snapshot.count;
    const entries = new Uint32Array(new SharedArrayBuffer(count * 16));
    for (let i = 0; i < count; i++) {
      entries[i * 4] = snapshot.emailHi[i]!;
      entries[i * 4 + 1] = snapshot.emailLo[i]!;
      entries[i * 4 + 2] = snapshot.contentHi[i]!;
      entries[i * 4 + 3] = snapshot.contentLo[i]!;
    }
    // About 8 entries per bucket: the table (count / 2 bytes) then mostly stays in cache, and a bucket's
    // entries (16 bytes each, side by side) are one or two cache lines.
    let bits = 1;
    while (bits < 24 && 1 << (bits + 3) < count) bits++;
    const shift = 32 - bits;
    const starts = new Uint32Array(new SharedArrayBuffer(((1 << bits) + 1) * 4));
    let i = 0;
    for (let b = 0; b <= 1 << bits; b++) {
      while (i < count && snapshot.emailHi[i]! >>> shift < b) i++;
      starts[b] = i;
    }
    return new SnapshotLookup(
      count,
      shift,
      entries,
      starts,
      shared(snapshot.emailOffsets.subarray(0, count + 1)),
      shared(snapshot.emailBytes.subarray(0, snapshot.emailOffsets[count])),
    );
  }

  static fromTables(t: SnapshotLookupTables): SnapshotLookup {
    return new SnapshotLookup(t.count, t.shift, t.entries, t.starts, t.emailOffsets, t.emailBytes);
  }

  get tables(): SnapshotLookupTables {
    const { count, shift, entries, starts, emailOffsets, emailBytes } = this;
    return { count, shift, entries, starts, emailOffsets, emailBytes };
  }

  /** Index of the entry with this email hash, or -1. */
  find(hi: number, lo: number): number {
    if (this.count === 0) return -1;
    const bucket = hi >>> this.shift;
    const entries = this.entries;
    const end = this.starts[bucket + 1]!;
    for (let i = this.starts[bucket]!; i < end; i++) {
      const h = entries[i * 4]!;
      if (h === hi && entries[i * 4 + 1] === lo) return i;
      if (h > hi) return -1;
    }
    return -1;
  }

  /** True when entry `i` (an index `find` returned) has this content hash. */
  sameContent(i: number, contentHi: number, contentLo: number): boolean {
    return this.entries[i * 4 + 2] === contentHi && this.entries[i * 4 + 3] === contentLo;
  }

  /**
   * True when entry `i` is `email` itself, not another address with the same 64-bit hash (about one
   * chance in 10⁸ per million-contact run, but a collision must never pass for "unchanged").
   */
  sameEmail(i: number, email: string): boolean {
    const bytes = this.emailBytes;
    let p = this.emailOffsets[i]!;
    const end = this.emailOffsets[i + 1]!;
    // UTF-8 of `email`, compared byte by byte as it is produced (no encoding pass, no allocation).
    for (let k = 0; k < email.length; k++) {
      let c = email.charCodeAt(k);
      if (c < 0x80) {
        if (bytes[p++] !== c) return false;
        continue;
      }
      if (c >= 0xd800 && c <= 0xdbff && k + 1 < email.length) {
        c = 0x10000 + ((c - 0xd800) << 10) + (email.charCodeAt(++k) - 0xdc00);
        if (bytes[p++] !== (0xf0 | (c >> 18)) || bytes[p++] !== (0x80 | ((c >> 12) & 0x3f))) return false;
      } else if (c >= 0x800) {
        if (bytes[p++] !== (0xe0 | (c >> 12))) return false;
      } else {
        if (bytes[p++] !== (0xc0 | (c >> 6))) return false;
        if (bytes[p++] !== (0x80 | (c & 0x3f))) return false;
        continue;
      }
      if (bytes[p++] !== (0x80 | ((c >> 6) & 0x3f)) || bytes[p++] !== (0x80 | (c & 0x3f))) return false;
    }
    return p === end;
  }
}

/** `array` itself when it is in shared memory, else a copy there. */
function shared<T extends Uint8Array | Uint32Array>(array: T): T {
  if (array.buffer instanceof SharedArrayBuffer) return array;
  const copy = new (array.constructor as new (buffer: SharedArrayBuffer) => T)(
    new SharedArrayBuffer(array.byteLength),
  );
  copy.set(array);
  return copy;
}

/** Bytes of the encoded layout before the emails (header, hashes, offsets): random data that never compresses. */
export function encodedTablesBytes(count: number): number {
  return HEADER_BYTES + count * 16 + (count + 1) * 4;
}

/** Serialises a snapshot to its binary layout. */
export function encodeSnapshot(snapshot: Snapshot): Uint8Array {
  const n = snapshot.count;
  const emailLength = snapshot.emailOffsets[n]!;
  const out = new Uint8Array(HEADER_BYTES + n * 16 + (n + 1) * 4 + emailLength);
  const view = new DataView(out.buffer);
  out.set(encoder.encode(snapshot.sorted ? MAGIC : UNSORTED_MAGIC), 0);
  view.setUint32(8, n, true);
  view.setUint32(12, emailLength, true);
  let p = HEADER_BYTES;
  for (let i = 0; i < n; i++, p += 16) {
    view.setUint32(p, snapshot.emailHi[i]!, true);
    view.setUint32(p + 4, snapshot.emailLo[i]!, true);
    view.setUint32(p + 8, snapshot.contentHi[i]!, true);
    view.setUint32(p + 12, snapshot.contentLo[i]!, true);
  }
  for (let i = 0; i <= n; i++, p += 4) view.setUint32(p, snapshot.emailOffsets[i]!, true);
  out.set(snapshot.emailBytes.subarray(0, emailLength), p);
  return out;
}

/** True when `bytes` (a snapshot's binary layout) hold entries sorted by email hash. */
export function isSortedSnapshot(bytes: Uint8Array): boolean {
  return magicOf(bytes) === MAGIC;
}

/** The layout's magic ('' when the bytes are too short to hold a header). */
function magicOf(bytes: Uint8Array): string {
  return bytes.length < HEADER_BYTES ? '' : decoder.decode(bytes.subarray(0, 8));
}

/**
 * Parses the binary layout (an unsorted one is sorted: every snapshot in memory is searchable); throws when
 * the bytes are not a well-formed snapshot.
 */
export function decodeSnapshot(bytes: Uint8Array): Snapshot {
  const magic = magicOf(bytes);
  if (magic !== MAGIC && magic !== UNSORTED_MAGIC) throw new Error('not a snapshot (bad magic)');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = view.getUint32(8, true);
  const emailLength = view.getUint32(12, true);
  if (bytes.length !== HEADER_BYTES + n * 16 + (n + 1) * 4 + emailLength)
    throw new Error('snapshot is truncated');
  const emailHi = new Uint32Array(n);
  const emailLo = new Uint32Array(n);
  const contentHi = new Uint32Array(n);
  const contentLo = new Uint32Array(n);
  // A sorted snapshot's offsets and emails go to shared memory: row preparers on worker threads compare
  // against them without a copy. An unsorted one is sorted into new arrays at once: plain memory for its
  // offsets, and its emails are read where they are (no copy of ~22 MB per million contacts).
  const sorted = magic === MAGIC;
  const offsets = new Uint32Array(sorted ? new SharedArrayBuffer((n + 1) * 4) : new ArrayBuffer((n + 1) * 4));
  let p = HEADER_BYTES;
  for (let i = 0; i < n; i++, p += 16) {
    emailHi[i] = view.getUint32(p, true);
    emailLo[i] = view.getUint32(p + 4, true);
    contentHi[i] = view.getUint32(p + 8, true);
    contentLo[i] = view.getUint32(p + 12, true);
  }
  for (let i = 0; i <= n; i++, p += 4) offsets[i] = view.getUint32(p, true);
  if (offsets[n] !== emailLength) throw new Error('snapshot email table is inconsistent');
  if (!sorted) {
    const emails = bytes.subarray(p, p + emailLength);
    return new Snapshot(n, emailHi, emailLo, contentHi, contentLo, offsets, emails, false).inHashOrder();
  }
  const emails = new Uint8Array(new SharedArrayBuffer(emailLength));
  emails.set(bytes.subarray(p, p + emailLength));
  return new Snapshot(n, emailHi, emailLo, contentHi, contentLo, offsets, emails);
}

/** A copy of `array`, `size` long (zeros after its elements): how the builder's and the pipeline's tables grow. */
export function grownTo<T extends Uint16Array | Uint32Array | Int32Array>(array: T, size: number): T {
  const grown = new (array.constructor as new (length: number) => T)(size);
  grown.set(array);
  return grown;
}

/** Collects entries in any order (unique email hashes) and builds a `Snapshot`, sorted or as added. */
export class SnapshotBuilder {
  private n = 0;
  private emailHi: Uint32Array;
  private emailLo: Uint32Array;
  private contentHi: Uint32Array;
  private contentLo: Uint32Array;
  private offsets: Uint32Array;
  private bytes: Uint8Array;
  /** True while every entry was added in increasing hash order (then `build` needs no sort). */
  private inOrder = true;
  /** True once `addKnown` was used (then only `buildFrom` knows where those emails are). */
  private borrowed = false;

  /** `expected`: entries likely to be added (a hint: growing 1M entries by doubling copies them ~10 times). */
  constructor(expected = 1024, expectedEmailBytes = expected * 32) {
    const size = Math.max(1024, expected);
    this.emailHi = new Uint32Array(size);
    this.emailLo = new Uint32Array(size);
    this.contentHi = new Uint32Array(size);
    this.contentLo = new Uint32Array(size);
    this.offsets = new Uint32Array(size + 1);
    this.bytes = new Uint8Array(Math.max(32 * 1024, expectedEmailBytes));
  }

  /** A builder holding `snapshot`'s entries as they are (its arrays, not copies: `build` sorts into new ones). */
  static of(snapshot: Snapshot): SnapshotBuilder {
    const builder = new SnapshotBuilder(0, 0);
    builder.emailHi = snapshot.emailHi;
    builder.emailLo = snapshot.emailLo;
    builder.contentHi = snapshot.contentHi;
    builder.contentLo = snapshot.contentLo;
    builder.offsets = snapshot.emailOffsets;
    builder.bytes = snapshot.emailBytes;
    builder.n = snapshot.count;
    builder.inOrder = snapshot.sorted;
    return builder;
  }

  /** Entries added so far. */
  get count(): number {
    return this.n;
  }

  /** Adds one contact; returns its entry index. The caller guarantees the email hash is new. */
  add(emailHi: number, emailLo: number, contentHi: number, contentLo: number, email: string): number {
    const bytes = encoder.encode(email);
    return this.addEncoded(emailHi, emailLo, contentHi, contentLo, bytes, 0, bytes.length);
  }

  /** Like `add`, for an email already encoded as UTF-8 in `source[from, to)`. */
  addEncoded(
    emailHi: number,
    emailLo: number,
    contentHi: number,
    contentLo: number,
    source: Uint8Array,
    from: number,
    to: number,
  ): number {
    if (this.n === this.emailHi.length) this.growEntries();
    const start = this.offsets[this.n]!;
    const end = start + (to - from);
    if (end > this.bytes.length) this.growBytes(end);
    const bytes = this.bytes;
    // Emails are short: a loop beats `set(subarray(…))`, which allocates a view per row.
    for (let i = from, p = start; i < to; i++) bytes[p++] = source[i]!;
    return this.push(emailHi, emailLo, contentHi, contentLo, end);
  }

  /** True when entry `i` (added with `add`/`addEncoded`) has the email `source[from, to)`. */
  emailEquals(i: number, source: Uint8Array, from: number, to: number): boolean {
    const start = this.offsets[i]!;
    if (this.offsets[i + 1]! - start !== to - from) return false;
    for (let k = 0; k < to - from; k++) if (this.bytes[start + k] !== source[from + k]) return false;
    return true;
  }

  /**
   * Adds an entry of the previous snapshot (by its email hash) with a (possibly new) content hash, without
   * copying its email: only for a builder finished with `buildFrom(…, previous)`, which copies the email from
   * `previous` (emails are never empty, so an entry with no bytes of its own is a borrowed one). Saves a
   * per-row copy on incremental runs.
   */
  addKnown(emailHi: number, emailLo: number, contentHi: number, contentLo: number): number {
    // Nothing of the previous entry is read here (a random access per row into a 1M-entry snapshot).
    if (this.n === this.emailHi.length) this.growEntries();
    this.borrowed = true;
    return this.push(emailHi, emailLo, contentHi, contentLo, this.offsets[this.n]!);
  }

  /** Copies entry `i` of `from` unchanged. */
  addFrom(from: Snapshot, i: number): number {
    if (this.n === this.emailHi.length) this.growEntries();
    const start = this.offsets[this.n]!;
    const email = from.emailBytes.subarray(from.emailOffsets[i], from.emailOffsets[i + 1]);
    if (start + email.length > this.bytes.length) this.growBytes(start + email.length);
    this.bytes.set(email, start);
    return this.push(
      from.emailHi[i]!,
      from.emailLo[i]!,
      from.contentHi[i]!,
      from.contentLo[i]!,
      start + email.length,
    );
  }

  /**
   * The entries in the order they were added, unsorted (views, no copy: the builder is not used after).
   * For storing a first run's target cheaply; see the module comment.
   */
  buildUnsorted(): Snapshot {
    if (this.borrowed) throw new Error('buildUnsorted() after addKnown(): use buildFrom()');
    return this.asAdded(this.inOrder);
  }

  /** Sorts by email hash and returns the snapshot. */
  build(): Snapshot {
    if (this.borrowed) throw new Error('build() after addKnown(): use buildFrom()');
    // Added in hash order (e.g. by `advanceSnapshot`'s merge): nothing to sort, and no copy either.
    if (this.inOrder) return this.asAdded(true);
    return this.assemble(sortedOrder(this.emailHi, this.emailLo, this.n));
  }

  /**
   * Like `build`, for entries that mostly come from the sorted snapshot `previous`: `previousIndex[e]` is
   * entry e's index there (-1 when new). Known entries are put in order by that index in O(n) and only new
   * ones are sorted, then the two runs are merged (an incremental run sorts nothing). Entries added with
   * `addKnown` take their email from `previous`.
   */
  buildFrom(previousIndex: Int32Array, previous: Snapshot): Snapshot {
    const n = this.n;
    const previousCount = previous.count;
    const { emailHi, emailLo } = this;
    const byPrevious = new Int32Array(previousCount).fill(-1);
    let fresh = 0;
    for (let e = 0; e < n; e++) {
      const at = previousIndex[e]!;
      if (at === -1) fresh++;
      else byPrevious[at] = e;
    }
    const freshHi = new Uint32Array(fresh);
    const freshLo = new Uint32Array(fresh);
    const freshEntry = new Uint32Array(fresh);
    for (let e = 0, f = 0; e < n; e++) {
      if (previousIndex[e] !== -1) continue;
      freshHi[f] = emailHi[e]!;
      freshLo[f] = emailLo[e]!;
      freshEntry[f++] = e;
    }
    const freshOrder = sortedOrder(freshHi, freshLo, fresh);
    const order = new Uint32Array(n);
    let k = 0;
    let a = 0;
    let b = 0;
    for (;;) {
      while (a < previousCount && byPrevious[a] === -1) a++;
      if (a >= previousCount && b >= fresh) break;
      let takeFresh = a >= previousCount;
      if (!takeFresh && b < fresh) {
        const old = byPrevious[a]!;
        const f = freshOrder[b]!;
        const oh = emailHi[old]!;
        takeFresh = freshHi[f]! < oh || (freshHi[f] === oh && freshLo[f]! < emailLo[old]!);
      }
      if (takeFresh) order[k++] = freshEntry[freshOrder[b++]!]!;
      else order[k++] = byPrevious[a++]!;
    }
    return this.assemble(order, previousIndex, previous);
  }

  /** The entries as added: views of the builder's arrays (it is not used after building). */
  private asAdded(sorted: boolean): Snapshot {
    const n = this.n;
    return new Snapshot(
      n,
      this.emailHi.subarray(0, n),
      this.emailLo.subarray(0, n),
      this.contentHi.subarray(0, n),
      this.contentLo.subarray(0, n),
      this.offsets.subarray(0, n + 1),
      this.bytes.subarray(0, this.offsets[n]),
      sorted,
    );
  }

  private assemble(order: Uint32Array, previousIndex?: Int32Array, previous?: Snapshot): Snapshot {
    const n = this.n;
    const { emailHi, emailLo, bytes: source, offsets } = this;
    const out = {
      emailHi: new Uint32Array(n),
      emailLo: new Uint32Array(n),
      contentHi: new Uint32Array(n),
      contentLo: new Uint32Array(n),
      offsets: new Uint32Array(n + 1),
    };
    // Borrowed emails are distinct previous entries: at most all of the previous snapshot's bytes.
    let bytes = new Uint8Array(
      offsets[n]! + (this.borrowed && previous ? previous.emailOffsets[previous.count]! : 0),
    );
    let p = 0;
    for (let k = 0; k < n; k++) {
      const i = order[k]!;
      out.emailHi[k] = emailHi[i]!;
      out.emailLo[k] = emailLo[i]!;
      out.contentHi[k] = this.contentHi[i]!;
      out.contentLo[k] = this.contentLo[i]!;
      out.offsets[k] = p;
      const to = offsets[i + 1]!;
      if (to === offsets[i] && previous && previousIndex) {
        // Borrowed (`addKnown`): the email is the previous entry's.
        const at = previousIndex[i]!;
        const end = previous.emailOffsets[at + 1]!;
        const from = previous.emailBytes;
        for (let b = previous.emailOffsets[at]!; b < end; b++) bytes[p++] = from[b]!;
        continue;
      }
      for (let b = offsets[i]!; b < to; b++) bytes[p++] = source[b]!;
    }
    out.offsets[n] = p;
    if (p < bytes.length) bytes = bytes.slice(0, p);
    return new Snapshot(n, out.emailHi, out.emailLo, out.contentHi, out.contentLo, out.offsets, bytes);
  }

  private push(eh: number, el: number, ch: number, cl: number, end: number): number {
    const i = this.n++;
    if (i > 0 && this.inOrder) {
      // The halves may come as int32s (stored the same): compared as the unsigned values they are.
      const h = eh >>> 0;
      const ph = this.emailHi[i - 1]!;
      if (ph > h || (ph === h && this.emailLo[i - 1]! >= el >>> 0)) this.inOrder = false;
    }
    this.emailHi[i] = eh;
    this.emailLo[i] = el;
    this.contentHi[i] = ch;
    this.contentLo[i] = cl;
    this.offsets[i + 1] = end;
    return i;
  }

  /** Makes room for `entries` entries and `emailBytes` bytes of their emails in all (no-op when there is). */
  reserve(entries: number, emailBytes: number): void {
    if (entries > this.emailHi.length) this.growEntries(entries);
    if (emailBytes > this.bytes.length) this.growBytes(emailBytes, true);
  }

  /** Bytes of the emails added so far. */
  get emailByteCount(): number {
    return this.offsets[this.n]!;
  }

  private growEntries(size = this.emailHi.length * 2): void {
    this.emailHi = grownTo(this.emailHi, size);
    this.emailLo = grownTo(this.emailLo, size);
    this.contentHi = grownTo(this.contentHi, size);
    this.contentLo = grownTo(this.contentLo, size);
    this.offsets = grownTo(this.offsets, size + 1);
  }

  /** Grows the email bytes to hold `needed`: by doubling, or (`exact`) to exactly that. */
  private growBytes(needed: number, exact = false): void {
    let size = exact ? needed : this.bytes.length * 2;
    while (size < needed) size *= 2;
    const b = new Uint8Array(size);
    b.set(this.bytes);
    this.bytes = b;
  }
}

// Indexes 0..n-1 fit in 21 bits and a hash half in 32: hi·2²¹ + i is exact in a double (< 2⁵³).
const INDEX_SPAN = 2 ** 21;

/** The entry order sorted by (hi, lo): a native Float64Array sort, ~10× faster than a comparator sort. */
function sortedOrder(his: Uint32Array, los: Uint32Array, n: number): Uint32Array {
  const order = new Uint32Array(n);
  if (n > INDEX_SPAN) {
    for (let i = 0; i < n; i++) order[i] = i;
    return order.sort((a, b) => (his[a] !== his[b] ? his[a]! - his[b]! : los[a]! - los[b]!));
  }
  const keys = new Float64Array(n);
  for (let i = 0; i < n; i++) keys[i] = his[i]! * INDEX_SPAN + i;
  keys.sort();
  for (let k = 0; k < n; k++) order[k] = keys[k]! % INDEX_SPAN;
  // Equal high halves (rare) are ordered by the low half.
  for (let a = 0; a < n;) {
    let b = a + 1;
    while (b < n && his[order[b]!] === his[order[a]!]) b++;
    if (b - a > 1) order.subarray(a, b).sort((x, y) => los[x]! - los[y]!);
    a = b;
  }
  return order;
}

/**
 * Moves a snapshot forward only for confirmed contacts. `target` is what the snapshot would be had
 * ActiveCampaign confirmed everything the run planned (written by Prepare). For each email hash:
 * confirmed → the target's state (updated, added, or gone when it was unsubscribed); not confirmed → the
 * previous state, so the next run sends it again.
 */
export function advanceSnapshot(
  previousAsStored: Snapshot,
  targetAsStored: Snapshot,
  isConfirmed: (emailHi: number, emailLo: number) => boolean,
): Snapshot {
  const previous = previousAsStored.inHashOrder();
  const target = targetAsStored.inHashOrder();
  // A merge of two sorted lists: entries arrive in hash order, so `build` skips the sort.
  const builder = new SnapshotBuilder(
    Math.max(previous.count, target.count),
    Math.max(previous.emailOffsets[previous.count]!, target.emailOffsets[target.count]!),
  );
  let i = 0;
  let j = 0;
  while (i < previous.count || j < target.count) {
    const cmp =
      i >= previous.count
        ? 1
        : j >= target.count
          ? -1
          : previous.emailHi[i] !== target.emailHi[j]
            ? previous.emailHi[i]! - target.emailHi[j]!
            : previous.emailLo[i]! - target.emailLo[j]!;
    if (cmp < 0) {
      // Only in the previous snapshot: a planned unsubscribe. Dropped once confirmed.
      if (!isConfirmed(previous.emailHi[i]!, previous.emailLo[i]!)) builder.addFrom(previous, i);
      i++;
    } else if (cmp > 0) {
      // Only in the target: a planned add. Kept once confirmed.
      if (isConfirmed(target.emailHi[j]!, target.emailLo[j]!)) builder.addFrom(target, j);
      j++;
    } else {
      // In both: the new content once confirmed, else the old one.
      if (isConfirmed(target.emailHi[j]!, target.emailLo[j]!)) builder.addFrom(target, j);
      else builder.addFrom(previous, i);
      i++;
      j++;
    }
  }
  return builder.build();
}
