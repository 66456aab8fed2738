/**
 * A batch of prepared rows (`RowBatch`): what the row preparer hands the pipeline for one chunk, in typed
 * arrays (new ones, or views of shared memory) laid out as preparedRowLayout.ts says, and the writer that
 * collects them.
 */
import { JsonBuffer } from './jsonBuffer';
import { ROW_INTS } from './preparedRowLayout';
import type { RejectReason } from './rejectedRows';

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
