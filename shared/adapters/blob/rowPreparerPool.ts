/**
 * Prepares chunks of whole CSV records (`ChunkJob`) into row batches, on worker threads when there are
 * cores to spare, and hands the batches back in the order the chunks were submitted: the pipeline's
 * result does not depend on how many threads ran or in which order they finished.
 *
 * Preparing a row is most of Prepare's CPU (decode, tokenize, normalise, validate, hash, encode the
 * contact's JSON); the stateful rest (dedupe, diff, packing, uploads) stays on the calling thread. The
 * previous snapshot's lookup tables are in shared memory, so workers search them without a copy. Small
 * inputs never start a thread: the first chunk waits until a second one shows that threads are worth
 * starting (both then go to threads), or until it is needed (then it is prepared inline). It is not
 * prepared inline while the threads start: the calling thread would then optimise the tokenizer and the row
 * preparer too, which costs more CPU than it saves (bench/results/pipeline.md, "Figures behind the code").
 *
 * Each worker has a few sets of shared buffers (`SharedBuffers`) that its chunks travel in and its batches
 * are written to, reused chunk after chunk once the caller `recycle`s a batch: no new arrays per chunk on
 * either thread (allocating and transferring ~250 MB of batch arrays per million rows made the accepting
 * thread collect garbage several times a second; bench/results/pipeline.md, round 6).
 */
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';

import { type ChunkJob, prepareChunk } from '../../domain/segments/prepareChunk';
import { shiftRowLines } from '../../domain/segments/preparedRowLayout';
import { type BatchBuffers, type RowBatch, rowBatch, RowBatchWriter } from '../../domain/segments/rowBatch';
import { RowPreparer, type RowPreparerOptions } from '../../domain/segments/rowPreparer';
import type { SnapshotLookup, SnapshotLookupTables } from '../../domain/segments/snapshotLookup';
import { ensureError } from '../../errors';

/** What each worker is started with (structured-cloned; the lookup tables are shared memory). */
export interface WorkerData {
  options: RowPreparerOptions;
  previous: SnapshotLookupTables;
}

/** A chunk's bytes (`input`) and its batch's buffers, reused job after job by one worker thread. */
export interface SharedBuffers extends BatchBuffers {
  input: SharedArrayBuffer;
}

/**
 * A chunk for a worker: its bytes in the message (`bytes`, copied), or in one of the worker's shared
 * buffer sets (`shared`), which then also receives the batch.
 */
export type WorkerJob = Omit<ChunkJob, 'bytes'> & {
  id: number;
  bytes?: Uint8Array;
  shared?: {
    set: number;
    /** The chunk is `input[0, length)`. */
    length: number;
    /** The set's buffers, when the worker does not have them yet (a new set, or a larger `input`). */
    buffers?: SharedBuffers;
  };
};

export interface WorkerReply {
  id: number;
  /** The batch of a `bytes` job (its arrays transferred). */
  batch?: RowBatch;
  /** The batch of a `shared` job: its arrays are the set's buffers, these long. */
  shared?: Omit<RowBatch, 'ints' | 'bytes' | 'json'> & {
    lengths: [ints: number, bytes: number, json: number];
    /** Buffers the worker replaced with larger ones (the batch is in these). */
    grown: Partial<BatchBuffers>;
  };
  /** An unexpected failure (a bad file comes back as `batch.error`). */
  error?: string;
}

/** A worker's shared buffer set, as the pool tracks it. */
interface SharedSet {
  index: number;
  buffers: SharedBuffers;
  /** False until the worker has been sent the current buffers. */
  sent: boolean;
}

interface PoolWorker {
  worker: Worker;
  busy: number;
  sets: SharedSet[];
  /** Sets recycled (or never used since their job failed): ready for a chunk. */
  free: SharedSet[];
}

/**
 * Most shared buffer sets per worker: far more than the chunks in flight (a recycled set is reused at once).
 * Past it (a caller that does not recycle) chunks travel in messages, their batches in transferred arrays.
 */
const MAX_SETS_PER_WORKER = 16;

/** Worker threads to use by default: one per core when there are two or more, at most four. */
export function defaultPrepareThreads(): number {
  const cores = os.availableParallelism();
  return cores > 1 ? Math.min(cores, 4) : 0;
}

/**
 * Worker threads running in this process, across pools: several Prepare activities may run at once in
 * one Functions host (host.json `maxConcurrentActivityFunctions`), and together they get no more threads
 * than `defaultPrepareThreads()`; a pool that finds none free prepares its chunks inline.
 */
let threadsInUse = 0;

/**
 * The compiled worker script: next to this module when running from `dist/`; from the TypeScript sources
 * (tests), the build's copy (`npm test` builds first). Undefined when there is none: chunks are then
 * prepared inline.
 */
export function workerScript(): string | undefined {
  const candidates = [
    path.join(__dirname, 'prepareWorker.js'),
    path.resolve(__dirname, '../../../dist/shared/adapters/blob/prepareWorker.js'),
  ];
  return candidates.find((file) => existsSync(file));
}

interface Slot {
  job: Omit<ChunkJob, 'bytes'>;
  /** The file line of the chunk's first byte; undefined: right after the previous chunk. */
  line: number | undefined;
  /** Undefined while the chunk is held (`RowPreparerPool.held`). */
  result: Promise<RowBatch> | undefined;
}

interface Pending {
  resolve(reply: WorkerReply): void;
  reject(error: Error): void;
}

/** See the module comment. */
export class RowPreparerPool {
  private readonly queue: Slot[] = [];
  private readonly workers: PoolWorker[] = [];
  /** The worker and set each shared batch lives in, until `recycle`. */
  private readonly owners = new WeakMap<RowBatch, { worker: PoolWorker; set: SharedSet }>();
  private readonly waiting = new Map<number, Pending>();
  private inline: { preparer: RowPreparer; writer: RowBatchWriter } | undefined;
  /** The first chunk, not started yet (see the module comment). */
  private held: { job: ChunkJob; slot: Slot } | undefined;
  private nextId = 0;
  /** The file line after the last chunk taken. */
  private nextLine = 1;
  private failure: Error | undefined;
  private closed = false;
  /** How many chunks were prepared on worker threads (for tests and the benchmark). */
  threadedChunks = 0;

  /** How many chunks were submitted. */
  get chunks(): number {
    return this.nextId;
  }

  /** Worker threads this pool may start (taken from the process's share when the first one starts). */
  private threads: number;
  private threadsTaken = false;

  constructor(
    private readonly options: RowPreparerOptions,
    private readonly previous: SnapshotLookup,
    /** Worker threads wanted (0: prepare every chunk inline); capped by what the process has free. */
    threads: number,
    private readonly script: string | undefined = workerScript(),
  ) {
    this.threads = threads;
  }

  /** Chunks submitted and not yet taken with `next`. */
  get pending(): number {
    return this.queue.length;
  }

  /**
   * Starts preparing `job`, whose first byte is on physical line `line` of its file (undefined: it
   * continues the previous chunk). Its batch comes from `next` after those of the chunks submitted before.
   * The first chunk's bytes are read later (when the second is submitted, or by `next`): the caller must not
   * reuse that memory (Prepare's chunks are new buffers, or views of stream chunks that are never rewritten).
   */
  submit(job: ChunkJob, line?: number): void {
    if (this.closed) throw new Error('the row preparer pool is closed');
    const { bytes: _bytes, ...described } = job;
    const id = this.nextId++;
    const slot: Slot = { job: described, line, result: undefined };
    this.queue.push(slot);
    if (id === 0 && this.threads > 0 && this.script !== undefined) {
      this.held = { job, slot };
      return;
    }
    if (id === 1 && !this.threadsTaken) this.takeThreads();
    if (this.held) this.start(this.held.job, this.held.slot, 0);
    this.start(job, slot, id);
  }

  /** Starts preparing a chunk: on a thread when this pool has any, else inline. */
  private start(job: ChunkJob, slot: Slot, id: number): void {
    if (slot === this.held?.slot) this.held = undefined;
    let result: Promise<RowBatch>;
    try {
      result = this.threads > 0 && this.script !== undefined ? this.onThread(job, id) : this.here(job);
    } catch (error) {
      // A thread that cannot be started or sent the chunk: its slot is queued already, so the error goes there.
      result = Promise.reject(ensureError(error));
    }
    // Rejections surface through `next`; a chunk never taken (an earlier one failed) must not crash the process.
    result.catch(() => undefined);
    slot.result = result;
  }

  /**
   * The batch of the oldest chunk not yet taken, its lines (and its `error`'s) made file lines.
   */
  async next(): Promise<{ job: Omit<ChunkJob, 'bytes'>; batch: RowBatch }> {
    const slot = this.queue.shift();
    if (!slot) throw new Error('next() with no chunk pending');
    // Needed before a second chunk came: the input is one chunk, prepared here without starting a thread.
    if (this.held?.slot === slot) {
      const { job } = this.held;
      this.held = undefined;
      slot.result = this.here(job);
    }
    const start = slot.line ?? this.nextLine;
    const batch = await slot.result!;
    const { ints } = batch;
    shiftRowLines(ints, batch.rows, start - 1);
    if (batch.error?.line !== undefined) batch.error.line += start - 1;
    this.nextLine = start + batch.lineBreaks;
    return { job: slot.job, batch };
  }

  /**
   * Hands a batch's memory back for later chunks. The caller must no longer read the batch (nor anything
   * made from its arrays without a copy); `release` is called first with the batch's JSON buffer when that
   * memory is about to be reused, for whatever still reads from it to copy what it needs. Batches prepared
   * inline or sent in messages have no shared memory and are ignored; a batch never recycled keeps its set
   * (see `MAX_SETS_PER_WORKER`).
   */
  recycle(batch: RowBatch, release?: (json: ArrayBufferLike) => void): void {
    const owner = this.owners.get(batch);
    if (!owner) return;
    release?.(batch.json.buffer);
    this.owners.delete(batch);
    owner.worker.free.push(owner.set);
  }

  /** Takes this pool's threads from the process's share (once a second chunk shows they are worth it). */
  private takeThreads(): void {
    this.threadsTaken = true;
    this.threads = Math.max(0, Math.min(this.threads, defaultPrepareThreads() - threadsInUse));
    threadsInUse += this.threads;
  }

  /** Stops the workers (pending chunks are dropped) and returns the threads to the process's share. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.threadsTaken) threadsInUse -= this.threads;
    this.queue.length = 0;
    this.held = undefined;
    const workers = this.workers.splice(0);
    await Promise.all(workers.map((w) => w.worker.terminate()));
    for (const pending of this.waiting.values())
      pending.reject(new Error('the row preparer pool was closed'));
    this.waiting.clear();
  }

  private here(job: ChunkJob): Promise<RowBatch> {
    this.inline ??= { preparer: new RowPreparer(this.options, this.previous), writer: new RowBatchWriter() };
    const { preparer, writer } = this.inline;
    try {
      return Promise.resolve(prepareChunk(preparer, job, writer));
    } catch (error) {
      return Promise.reject(ensureError(error));
    }
  }

  private onThread(job: ChunkJob, id: number): Promise<RowBatch> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.workers.length < this.threads) this.startWorker();
    // The least busy worker; ties go to the first.
    let chosen = this.workers[0]!;
    for (const w of this.workers) if (w.busy < chosen.busy) chosen = w;
    const { bytes, ...described } = job;
    const set = this.setFor(chosen, bytes.length);
    let message: WorkerJob;
    if (set) {
      new Uint8Array(set.buffers.input, 0, bytes.length).set(bytes);
      message = { ...described, id, shared: { set: set.index, length: bytes.length } };
      if (!set.sent) message.shared!.buffers = set.buffers;
      set.sent = true;
    } else {
      // Copied, not transferred: the bytes may be a view of a buffer the download stream still owns.
      message = { ...described, id, bytes };
    }
    chosen.busy++;
    this.threadedChunks++;
    return new Promise<RowBatch>((resolve, reject) => {
      this.waiting.set(id, {
        resolve: (reply) => {
          chosen.busy--;
          if (reply.batch) {
            // Rebuilt: an object that came through postMessage has another shape than `rowBatch` gives.
            const { rows, lineBreaks, ints, bytes, json, notes, error } = reply.batch;
            return resolve(rowBatch(rows, lineBreaks, ints, bytes, json, notes, error));
          }
          const { lengths, grown, rows, lineBreaks, notes, error } = reply.shared!;
          const buffers = Object.assign(set!.buffers, grown);
          const batch = rowBatch(
            rows,
            lineBreaks,
            new Int32Array(buffers.ints, 0, lengths[0]),
            new Uint8Array(buffers.bytes, 0, lengths[1]),
            new Uint8Array(buffers.json, 0, lengths[2]),
            notes,
            error,
          );
          this.owners.set(batch, { worker: chosen, set: set! });
          resolve(batch);
        },
        reject: (error) => {
          chosen.busy--;
          if (set) {
            // The worker may have replaced buffers it did not report: it gets main's again next time.
            set.sent = false;
            chosen.free.push(set);
          }
          reject(error);
        },
      });
      chosen.worker.postMessage(message);
    });
  }

  /** A free shared set of `worker` whose input holds `length` bytes (made or enlarged here), if any. */
  private setFor(worker: PoolWorker, length: number): SharedSet | undefined {
    let set = worker.free.pop();
    if (!set) {
      if (worker.sets.length === MAX_SETS_PER_WORKER) return undefined;
      // Sized for a typical chunk's batch (JSON ~2× the CSV, 48 bytes of ints per row of 24+ bytes); a
      // worker enlarges the batch buffers it outgrows.
      const input = Math.max(64 * 1024, Math.ceil(length * 1.25));
      set = {
        index: worker.sets.length,
        buffers: {
          input: new SharedArrayBuffer(input),
          ints: new SharedArrayBuffer(input * 2),
          bytes: new SharedArrayBuffer(input >> 1),
          json: new SharedArrayBuffer(input * 3),
        },
        sent: false,
      };
      worker.sets.push(set);
    }
    if (set.buffers.input.byteLength < length) {
      set.buffers.input = new SharedArrayBuffer(Math.ceil(length * 1.25));
      set.sent = false;
    }
    return set;
  }

  private startWorker(): void {
    const data: WorkerData = { options: this.options, previous: this.previous.tables };
    const worker = new Worker(this.script!, { workerData: data });
    worker.on('message', (reply: WorkerReply) => {
      const pending = this.waiting.get(reply.id);
      if (!pending) return;
      this.waiting.delete(reply.id);
      if (reply.batch || reply.shared) pending.resolve(reply);
      else pending.reject(new Error(`preparing rows failed on a worker thread: ${reply.error}`));
    });
    const fail = (error: Error) => {
      if (this.closed) return;
      this.failure ??= new Error(`a row preparer thread stopped: ${error.message}`, { cause: error });
      for (const pending of this.waiting.values()) pending.reject(this.failure);
      this.waiting.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => {
      if (code !== 0) fail(new Error(`exit code ${code}`));
    });
    this.workers.push({ worker, busy: 0, sets: [], free: [] });
  }
}
