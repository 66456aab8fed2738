/**
 * Prepare, in one call: discover each segment's newest snapshot → stream every partition → map, normalise,
 * validate, dedupe, diff (domain/segments) → stage slices, rejected rows and the target snapshot in the
 * run folder. Returns counts and blob references only, never contact data: this is the Durable Prepare
 * activity's output. Files are cut into chunks of whole records that worker threads prepare
 * (rowPreparerPool.ts); chunks are accepted here strictly in file order, so the result and the first
 * error are those of reading record by record.
 */
import { PassThrough } from 'node:stream';

import type { ContainerClient } from '@azure/storage-blob';
import { z } from 'zod';

import { type ColumnIndexes, ExportMapping, resolveColumns } from '../../domain/segments/exportMapping';
import { REJECTED_CSV_HEADER, toRejectedCsvLine } from '../../domain/segments/rejectedRows';
import {
  DEFAULT_PACKING_LIMITS,
  MAX_BULK_IMPORT_BYTES,
  MAX_CONTACTS_PER_BULK_IMPORT,
} from '../../domain/segments/requestPacker';
import { SegmentPipeline } from '../../domain/segments/segmentPipeline';
import { Snapshot } from '../../domain/segments/snapshot';
import { InputFileError } from '../../errors';
import { discoverSegments } from './discoverSegments';
import { readPartition } from './readPartition';
import { defaultPrepareThreads, RowPreparerPool } from './rowPreparerPool';
import {
  rejectedBlobName,
  runFolder,
  sliceBlobName,
  snapshotBlobName,
  targetSnapshotBlobName,
} from './runFolder';
import { MAX_UNWRITTEN_BYTES, SliceUploader } from './slices';
import { readSnapshot, writeSnapshot } from './snapshotStore';

/** What Prepare needs (ids, names and settings only: safe for orchestration history). */
export const PrepareSegmentsInput = z.object({
  exportId: z.string().min(1),
  runId: z.string().min(1),
  /** Segment names, in the export's order (first occurrence of an email wins). */
  segments: z.array(z.string().trim().min(1)).min(1),
  mapping: ExportMapping,
  listId: z.number().int().positive(),
  membership: z.enum(['add', 'mirror']).default('add'),
  fullResync: z.boolean().default(false),
  /** The profile cap (from config `EXPORT_PROFILE_CAP` or the export). */
  profileCap: z.number().int().positive(),
  layout: z.enum(['auto', 'customerInsights', 'plain']).default('auto'),
  packing: z
    .object({
      maxContactsPerRequest: z.number().int().min(1).max(MAX_CONTACTS_PER_BULK_IMPORT),
      maxBodyBytes: z.number().int().min(1_000).max(MAX_BULK_IMPORT_BYTES),
      requestsPerSlice: z.number().int().min(1).max(100),
      excludeAutomations: z.boolean(),
    })
    .partial()
    .default({}),
});
export type PrepareSegmentsInput = z.input<typeof PrepareSegmentsInput>;

const Counts = z.object({
  rows: z.number(),
  contacts: z.number(),
  rejected: z.number(),
  rejectedByReason: z.record(z.string(), z.number()),
  added: z.number(),
  changed: z.number(),
  unchanged: z.number(),
  removed: z.number(),
  toUpsert: z.number(),
  toUnsubscribe: z.number(),
  requests: z.number(),
  slices: z.number(),
});

/** Prepare's result: counts and blob references only. */
export const PrepareSegmentsResult = z.object({
  exportId: z.string(),
  runId: z.string(),
  runFolder: z.string(),
  segments: z.array(
    z.object({
      name: z.string(),
      layout: z.enum(['customerInsights', 'plain']),
      snapshotFolder: z.string().optional(),
      files: z.array(z.string()),
      /** What discovery passed over (unlisted files, newer unlisted folders): names only. */
      warnings: z.array(z.string()).optional(),
    }),
  ),
  counts: Counts,
  /** Slice `n` (1..count) is at `sliceBlobName(runFolder, n)`. */
  slices: z.object({ count: z.number(), first: z.string().optional(), last: z.string().optional() }),
  rejectedBlob: z.string(),
  targetSnapshotBlob: z.string(),
  previousSnapshotContacts: z.number(),
  /** How the files were parsed: chunks of whole records (on worker threads or here), or record by record. */
  parsing: z.object({ chunks: z.number(), onWorkerThreads: z.number() }),
  durationMs: z.number(),
});
export type PrepareSegmentsResult = z.infer<typeof PrepareSegmentsResult>;

/** Injected dependencies. */
export interface PrepareSegmentsDeps {
  /** Where segment files are (SEGMENT_CONTAINER). */
  segmentContainer: ContainerClient;
  /** Where run folders and snapshots are (WORK_CONTAINER). */
  workContainer: ContainerClient;
  /** Slice uploads in flight at once (default 4). */
  uploadConcurrency?: number;
  /** Most uncompressed bytes of slices waiting or being written before reading pauses (default 32 MB). */
  maxUnwrittenBytes?: number;
  /**
   * Worker threads that prepare rows (default: one per core when there are two or more, at most four;
   * 0: all on the calling thread). Inputs of one chunk never start a thread.
   */
  threads?: number;
  /**
   * Bytes of CSV per chunk handed to a row preparer (default 256 KiB). 0: no chunks; every file is parsed
   * record by record on the calling thread (what UTF-16 files and multi-character delimiters always get).
   */
  chunkBytes?: number;
  now?: () => number;
}

/** Runs Prepare for one export run; see the module comment. Throws InputFileError / LimitExceededError / NotFoundError. */
export async function prepareSegments(
  rawInput: PrepareSegmentsInput,
  deps: PrepareSegmentsDeps,
): Promise<PrepareSegmentsResult> {
  const input = PrepareSegmentsInput.parse(rawInput);
  const now = deps.now ?? Date.now;
  const started = now();
  const folder = runFolder(input.exportId, input.runId);
  const { workContainer } = deps;

  const [segments, previousOrNone] = await Promise.all([
    discoverSegments(deps.segmentContainer, input.segments, input.layout),
    // Read even for a full resync: the snapshot is the only memory of who left the segments.
    readSnapshot(workContainer, snapshotBlobName(input.exportId)),
  ]);
  // Sorted once, so the pipeline and the worker threads index the same entries.
  const previous = (previousOrNone ?? Snapshot.empty()).inHashOrder();

  const uploads = new SliceUploader(
    workContainer,
    folder,
    Math.max(1, deps.uploadConcurrency ?? 4),
    deps.maxUnwrittenBytes ?? MAX_UNWRITTEN_BYTES,
  );
  const rejected = new RejectedWriter(workContainer, rejectedBlobName(folder));
  // What the row preparers need (plain data, sent to worker threads); the pipeline needs it too.
  const rowOptions = {
    mapping: input.mapping,
    listId: input.listId,
    fullResync: input.fullResync,
    packing: { ...DEFAULT_PACKING_LIMITS, ...input.packing },
  };
  const pipeline = new SegmentPipeline(
    { ...rowOptions, membership: input.membership, previous, profileCap: input.profileCap },
    { slice: (s) => uploads.add(s), reject: (row) => rejected.add(toRejectedCsvLine(row)) },
  );

  const threads = deps.threads ?? defaultPrepareThreads();
  const pool = new RowPreparerPool(rowOptions, previous.lookup, threads);
  // Chunks are prepared ahead (on threads) and accepted strictly in file order.
  const ahead = Math.max(2, threads * 2);
  let acceptingFile: string | undefined;
  // Each file's first chunk is the sample its size is judged by (`SegmentPipeline.expect`), by file.
  const samples = new Map<string, { fileBytes: number; bytes: number }>();
  const backpressure = async () => {
    await rejected.drain();
    await uploads.drain();
  };
  // The error a chunk raised when it was accepted: the first in file order (nothing after it is accepted).
  let acceptError: unknown;
  const acceptNext = async () => {
    try {
      const { job, batch } = await pool.next();
      if (job.file !== acceptingFile) {
        acceptingFile = job.file;
        pipeline.beginFile(job.file);
      }
      pipeline.acceptBatch(batch);
      const sample = samples.get(job.file);
      if (sample) {
        samples.delete(job.file);
        pipeline.expect(sample.fileBytes - sample.bytes, batch, sample.bytes);
      }
      // The batch's memory goes back to its worker thread once staging no longer reads it.
      pool.recycle(batch, (json) => pipeline.release(json));
      if (batch.error) {
        const { line, detail } = batch.error;
        throw new InputFileError(job.file, detail, line === undefined ? {} : { line });
      }
    } catch (error) {
      acceptError = error;
      throw error;
    }
    await backpressure();
  };
  const acceptAll = async () => {
    while (pool.pending) await acceptNext();
  };

  let outcome: ReturnType<SegmentPipeline['finish']>;
  try {
    for (const segment of segments) {
      for (const partition of segment.partitions) {
        const file = partition.blobName;
        let columns: ColumnIndexes | undefined;
        let fileBytes = 0;
        let chunks = 0;
        const reading = readPartition(deps.segmentContainer, file, partition.format, {
          size: (bytes) => (fileBytes = bytes),
          columns: async (names, mode) => {
            columns = resolveColumns(input.mapping, names, file);
            if (mode === 'records') {
              await acceptAll();
              acceptingFile = file;
              pipeline.beginFile(file, columns);
            }
          },
          record: (fields, line) => pipeline.accept(fields, line),
          afterChunk: backpressure,
          ...(deps.chunkBytes === 0
            ? {}
            : {
                chunkBytes: deps.chunkBytes,
                chunk: async ({ line, ...chunk }) => {
                  // Not for a gzipped file (no size): its tables grow as they always did.
                  if (chunks++ === 0 && fileBytes)
                    samples.set(file, { fileBytes, bytes: chunk.bytes.length });
                  pool.submit({ file, columns: columns!, dialect: partition.format.dialect, ...chunk }, line);
                  while (pool.pending >= ahead) await acceptNext();
                },
              }),
        });
        // Errors are reported in file order: an error of reading (a later byte) waits for the chunks before
        // it, whose own error comes first; an error of accepting a chunk is already the first.
        await reading.catch(async (error: unknown) => {
          if (error !== acceptError) await acceptAll();
          throw error;
        });
      }
    }
    await acceptAll();
    // Departures (mirror-mode unsubscribes) in batches, with the uploads draining in between.
    while (pipeline.stageDepartures(DEPARTURES_PER_BATCH)) await backpressure();
    outcome = pipeline.finish();
    await uploads.drain(0);
  } catch (error) {
    await Promise.allSettled([rejected.close(), uploads.drain(0)]);
    throw error;
  } finally {
    await pool.close();
  }
  await rejected.close();
  await writeSnapshot(workContainer, targetSnapshotBlobName(folder), outcome.target);

  const { counts } = outcome;
  return PrepareSegmentsResult.parse({
    exportId: input.exportId,
    runId: input.runId,
    runFolder: folder,
    segments: segments.map((s) => ({
      name: s.name,
      layout: s.layout,
      ...(s.snapshotFolder ? { snapshotFolder: s.snapshotFolder } : {}),
      files: s.partitions.map((p) => p.blobName),
      ...(s.warnings?.length ? { warnings: s.warnings } : {}),
    })),
    counts,
    slices: {
      count: counts.slices,
      ...(counts.slices
        ? { first: sliceBlobName(folder, 1), last: sliceBlobName(folder, counts.slices) }
        : {}),
    },
    rejectedBlob: rejectedBlobName(folder),
    targetSnapshotBlob: targetSnapshotBlobName(folder),
    previousSnapshotContacts: previous.count,
    parsing: { chunks: pool.chunks, onWorkerThreads: pool.threadedChunks },
    durationMs: now() - started,
  });
}

/** Previous contacts checked for departure between two waits for the slice uploads (~3 MB of unsubscribes). */
const DEPARTURES_PER_BATCH = 50_000;

/** Streams rejected rows as CSV into a block blob. */
class RejectedWriter {
  private readonly stream = new PassThrough();
  private readonly upload: Promise<unknown>;
  private buffered = '';

  constructor(container: ContainerClient, blobName: string) {
    this.upload = container.getBlockBlobClient(blobName).uploadStream(this.stream, 1024 * 1024, 2, {
      blobHTTPHeaders: { blobContentType: 'text/csv; charset=utf-8' },
    });
    this.upload.catch(() => undefined);
    this.buffered = REJECTED_CSV_HEADER;
  }

  add(line: string): void {
    this.buffered += line;
  }

  /** Hands buffered lines to the upload, waiting when it is behind. */
  async drain(): Promise<void> {
    if (this.buffered.length < 64 * 1024) return;
    await this.flush();
  }

  /** Finishes the blob. */
  async close(): Promise<void> {
    await this.flush();
    this.stream.end();
    await this.upload;
  }

  private async flush(): Promise<void> {
    if (!this.buffered) return;
    const ok = this.stream.write(this.buffered, 'utf8');
    this.buffered = '';
    if (!ok) await new Promise<void>((resolve) => this.stream.once('drain', resolve));
  }
}
