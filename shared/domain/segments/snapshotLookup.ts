/** Finding a snapshot's entries by email hash, in shared memory that row preparers on worker threads search. */
import type { Snapshot } from './snapshot';

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
