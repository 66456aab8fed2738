/**
 * Staged slices in the run folder: Prepare writes them, Push reads them (one slice per Push activity).
 *
 * A slice blob is the packer's JSON (`{"version":1,"slice":n,"requests":[{"contactCount","bytes","body"}…]}`,
 * domain/segments/requestPacker.ts) stored Brotli-compressed (`Content-Encoding: br`, name `….json.br`).
 * Why compressed: a first run of a million contacts stages ~170 MB of JSON, and storing bytes is not free:
 * uncompressed, Azurite spends seconds of CPU on a first run's slices (bench/results/pipeline.md). Brotli at quality 1 shrinks the contact JSON ~10× on the bench
 * data (keys repeat in every contact; real names and emails vary more) at ~340 MB/s on libuv's thread pool,
 * off the thread that accepts rows: 1.7× the speed of gzip level 1 for the same ratio. Push reads one slice
 * per activity at ActiveCampaign's pace: inflating (~290 MB/s) costs it nothing noticeable.
 */
import { promisify } from 'node:util';
import { brotliCompress, brotliDecompress, constants } from 'node:zlib';

import type { ContainerClient } from '@azure/storage-blob';
import { z } from 'zod';

import type { PackedSlice } from '../../domain/segments/requestPacker';
import { AppError, ensureError, statusCodeOf } from '../../errors';
import { sliceBlobName } from './runFolder';

const OPEN_BRACE = 0x7b;
/** A slice is at most 100 requests of under 400,000 bytes, plus its framing. */
const MAX_SLICE_BYTES = 64 * 1024 * 1024;
/** The slice number in a blob name (runFolder.ts `sliceBlobName`). */
const SLICE_NUMBER = /\/slices\/(\d+)\.json\.br$/;
const compress = promisify(brotliCompress);
const decompress = promisify(brotliDecompress);

/** One bulk-import request as staged: `body` is sent as it is (`JSON.stringify(body)` is `bytes` long). */
export const StagedRequest = z.object({
  contactCount: z.number().int().positive(),
  bytes: z.number().int().positive(),
  body: z
    .object({ contacts: z.array(z.record(z.string(), z.unknown())).min(1), exclude_automations: z.boolean() })
    .passthrough(),
});
export type StagedRequest = z.infer<typeof StagedRequest>;

/** A slice blob's content. */
export const StagedSlice = z.object({
  version: z.literal(1),
  slice: z.number().int().positive(),
  requests: z
    .array(
      StagedRequest.refine((r) => r.contactCount === r.body.contacts.length, {
        message: 'contactCount differs from the number of contacts in the body',
      }),
    )
    .min(1),
});
export type StagedSlice = z.infer<typeof StagedSlice>;

/** Compresses and stores one packed slice of a run (one Put Blob). */
export async function writeSlice(
  container: ContainerClient,
  folder: string,
  slice: PackedSlice,
): Promise<void> {
  const body = await compress(slice.bytes, {
    // One output chunk per slice: zlib's default 16 KB chunks would mean a callback per 16 KB on the thread
    // that accepts rows.
    chunkSize: 1024 * 1024,
    params: {
      [constants.BROTLI_PARAM_QUALITY]: 1,
      [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT,
      [constants.BROTLI_PARAM_SIZE_HINT]: slice.bytes.length,
    },
  });
  slice.release();
  await container.getBlockBlobClient(sliceBlobName(folder, slice.number)).upload(body, body.length, {
    blobHTTPHeaders: { blobContentType: 'application/json', blobContentEncoding: 'br' },
  });
}

/** Reads slice `blobName` (a name Prepare returned); fails clearly when it is missing or not a slice. */
export async function readSlice(container: ContainerClient, blobName: string): Promise<StagedSlice> {
  let stored: Buffer;
  try {
    stored = await container.getBlobClient(blobName).downloadToBuffer();
  } catch (error) {
    if (statusCodeOf(error) === 404) {
      throw new AppError(`Slice ${blobName} does not exist`, { code: 'slice_missing', cause: error });
    }
    throw error;
  }
  try {
    // A client that honours `Content-Encoding` (a browser, fetch) hands over the JSON itself: accept both.
    const text =
      stored[0] === OPEN_BRACE ? stored : await decompress(stored, { maxOutputLength: MAX_SLICE_BYTES });
    const slice = StagedSlice.parse(JSON.parse(text.toString('utf8')));
    const named = SLICE_NUMBER.exec(blobName);
    if (named && Number(named[1]) !== slice.slice) {
      throw new Error(`it holds slice ${slice.slice}, not slice ${Number(named[1])}`);
    }
    return slice;
  } catch (error) {
    throw new AppError(`Slice ${blobName} is corrupt: ${(error as Error).message}`, {
      code: 'slice_corrupt',
      cause: error,
    });
  }
}

/** Default of `maxUnwrittenBytes` (a memory bound). */
export const MAX_UNWRITTEN_BYTES = 32 * 1024 * 1024;

/** Uploads completed slices with bounded concurrency; `drain` applies backpressure. */
export class SliceUploader {
  private readonly queue: PackedSlice[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private failure: unknown;
  /** Uncompressed bytes of the slices queued or being written. */
  private bytes = 0;

  constructor(
    private readonly container: ContainerClient,
    private readonly folder: string,
    private readonly concurrency: number,
    private readonly maxBytes: number,
  ) {}

  add(slice: PackedSlice): void {
    this.queue.push(slice);
    this.bytes += slice.bytes.length;
  }

  /**
   * Starts queued uploads; waits until at most `queued` slices wait and at most `limit` are in flight
   * (`drain(0)`: all done), and until the slices waiting or being written hold at most
   * `maxBytes` (a slice is ~2 MB, but up to `requestsPerSlice` × 400 KB when contacts are huge). Letting a few
   * slices wait absorbs bursts instead of stalling the parse each time the uploads are momentarily behind.
   */
  async drain(limit = this.concurrency, queued = this.concurrency): Promise<void> {
    if (limit === 0) queued = 0;
    for (;;) {
      if (this.failure !== undefined) throw ensureError(this.failure);
      while (this.queue.length && this.inFlight.size < this.concurrency) this.start(this.queue.shift()!);
      const slices = this.queue.length + this.inFlight.size;
      const withinBytes = this.bytes <= this.maxBytes || slices <= 1;
      if (this.queue.length <= queued && this.inFlight.size <= limit && withinBytes) return;
      await Promise.race(this.inFlight);
    }
  }

  private start(slice: PackedSlice): void {
    const size = slice.bytes.length;
    // The packer's bytes as they are (no copy, no re-encoding), compressed on the thread pool.
    const upload = writeSlice(this.container, this.folder, slice)
      .then(
        () => undefined,
        (error: unknown) => {
          this.failure ??= error;
        },
      )
      .finally(() => {
        this.bytes -= size;
        this.inFlight.delete(upload);
      });
    this.inFlight.add(upload);
  }
}
