/**
 * Worker-thread entry of `RowPreparerPool`: prepares chunks of raw CSV bytes into row batches
 * (decode → tokenize → map → normalise → validate → hash → look up → encode) and posts them back.
 * It reads nothing and writes nothing but its messages: the pool's thread does all I/O.
 */
import { parentPort, workerData } from 'node:worker_threads';

import {
  type BatchBuffers,
  prepareChunk,
  RowBatchWriter,
  RowPreparer,
} from '../../domain/segments/rowPreparer';
import { SnapshotLookup } from '../../domain/segments/snapshot';
import { ensureError } from '../../errors';
import type { SharedBuffers, WorkerData, WorkerJob, WorkerReply } from './rowPreparerPool';

const data = workerData as WorkerData;
const preparer = new RowPreparer(data.options, SnapshotLookup.fromTables(data.previous));
const writer = new RowBatchWriter();
const port = parentPort!;
/** This thread's shared buffer sets, by the index the pool gives them. */
const sets: SharedBuffers[] = [];

port.on('message', (job: WorkerJob) => {
  let reply: WorkerReply;
  if (job.shared) {
    const { set, length, buffers } = job.shared;
    if (buffers) sets[set] = buffers;
    const buffersOfSet = sets[set]!;
    const before: BatchBuffers = { ...buffersOfSet };
    try {
      const chunk = { ...job, bytes: new Uint8Array(buffersOfSet.input, 0, length) };
      const { ints, bytes, json, ...rest } = prepareChunk(preparer, chunk, writer, buffersOfSet);
      const grown: Partial<BatchBuffers> = {};
      for (const key of ['ints', 'bytes', 'json'] as const)
        if (buffersOfSet[key] !== before[key]) grown[key] = buffersOfSet[key];
      reply = { id: job.id, shared: { ...rest, lengths: [ints.length, bytes.length, json.length], grown } };
    } catch (error) {
      reply = { id: job.id, error: ensureError(error).message };
    }
    port.postMessage(reply);
    return;
  }
  try {
    reply = { id: job.id, batch: prepareChunk(preparer, { ...job, bytes: job.bytes! }, writer) };
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
