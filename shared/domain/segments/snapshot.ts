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
 * This file holds the snapshot and its binary layout; beside it: the lookup by email hash
 * (snapshotLookup.ts), building one (snapshotBuilder.ts) and advancing one (snapshotAdvance.ts).
 */
import { SnapshotBuilder } from './snapshotBuilder';
import { SnapshotLookup } from './snapshotLookup';

export { advanceSnapshot } from './snapshotAdvance';
export { grownTo, SnapshotBuilder } from './snapshotBuilder';
export { SnapshotLookup, type SnapshotLookupTables } from './snapshotLookup';

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
