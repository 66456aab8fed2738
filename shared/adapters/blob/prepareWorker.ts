/**
 * Worker-thread entry of `RowPreparerPool`: prepares chunks of raw CSV bytes into row batches
 * (decode → tokenize → map → normalise → validate → hash → look up → encode) and posts them back, in one
 * of this thread's shared buffer sets or in transferred arrays. It does no I/O: the pool's thread does.
 */
import { parentPort, workerData } from 'node:worker_threads';

import { prepareChunk } from '../../domain/segments/prepareChunk';
import { type BatchBuffers, RowBatchWriter } from '../../domain/segments/rowBatch';
import { RowPreparer } from '../../domain/segments/rowPreparer';
import { SnapshotLookup } from '../../domain/segments/snapshotLookup';
import { ensureError } from '../../errors';
import type { SharedBuffers, WorkerData, WorkerJob, WorkerReply } from './rowPreparerPool';

const data = workerData as WorkerData;
const preparer = new RowPreparer(data.options, SnapshotLookup.fromTables(data.previous));
const writer = new RowBatchWriter();
const port = parentPort!;
/** This thread's shared buffer sets, by the index the pool gives them. */
const sets: SharedBuffers[] = [];
const BATCH_BUFFERS = ['ints', 'bytes', 'json'] as const;

port.on('message', (job: WorkerJob) => {
  const shared = job.shared;
  if (shared?.buffers) sets[shared.set] = shared.buffers;
  const set = shared ? sets[shared.set]! : undefined;
  const before: Partial<BatchBuffers> = { ...set };
  let reply: WorkerReply;
  try {
    const bytes = set ? new Uint8Array(set.input, 0, shared!.length) : job.bytes!;
    const batch = prepareChunk(preparer, { ...job, bytes }, writer, set);
    if (set) {
      const { ints, bytes: rowBytes, json, ...rest } = batch;
      // Buffers the batch outgrew were replaced in `set`: the pool learns of them here.
      const grown: Partial<BatchBuffers> = {};
      for (const key of BATCH_BUFFERS) if (set[key] !== before[key]) grown[key] = set[key];
      reply = {
        id: job.id,
        shared: { ...rest, lengths: [ints.length, rowBytes.length, json.length], grown },
      };
    } else reply = { id: job.id, batch };
  } catch (error) {
    reply = { id: job.id, error: ensureError(error).message };
  }
  const batch = reply.batch;
  port.postMessage(
    reply,
    batch
      ? [
          batch.ints.buffer as ArrayBuffer,
          batch.bytes.buffer as ArrayBuffer,
          batch.json.buffer as ArrayBuffer,
        ]
      : [],
  );
});
