/** Collecting a snapshot's entries (as Prepare meets them, or merged) and building the `Snapshot`. */
import { Snapshot } from './snapshot';

const encoder = new TextEncoder();

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
