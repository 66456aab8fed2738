/**
 * Worker-thread entry of `RowPreparerPool`: prepares chunks of raw CSV bytes into row batches
 * (decode → tokenize → map → normalise → validate → hash → look up → encode) and posts them back.
 * It reads nothing and writes nothing but its messages: the pool's thread does all I/O.
 */
import { parentPort, workerData } from 'node:worker_threads';

import { prepareChunk, RowBatchWriter, RowPreparer } from '../../domain/segments/rowPreparer';
import { SnapshotLookup } from '../../domain/segments/snapshot';
import { ensureError } from '../../errors';
import type { WorkerData, WorkerJob, WorkerReply } from './rowPreparerPool';

const data = workerData as WorkerData;
const preparer = new RowPreparer(data.options, SnapshotLookup.fromTables(data.previous));
const writer = new RowBatchWriter();
const port = parentPort!;

port.on('message', (job: WorkerJob) => {
  let reply: WorkerReply;
  try {
    reply = { id: job.id, batch: prepareChunk(preparer, job, writer) };
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
