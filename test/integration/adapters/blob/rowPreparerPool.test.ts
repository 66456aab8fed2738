/**
 * The pool's worker threads prepare chunks into shared buffer sets that are reused chunk after chunk. These
 * tests run real worker threads (the build's script) and check the rule that makes reuse safe: a batch's
 * memory is not written again until the caller recycles the batch (Prepare does once staging has copied what
 * it still reads: `SegmentPipeline.release`), and is reused after.
 */
import { describe, expect, it } from 'vitest';

import {
  defaultPrepareThreads,
  RowPreparerPool,
  workerScript,
} from '../../../../shared/adapters/blob/rowPreparerPool';
import { ExportMapping, resolveColumns } from '../../../../shared/domain/segments/exportMapping';
import { DEFAULT_PACKING_LIMITS } from '../../../../shared/domain/segments/requestPacker';
import type { ChunkJob, RowBatch } from '../../../../shared/domain/segments/rowPreparer';
import { Snapshot } from '../../../../shared/domain/segments/snapshot';

const options = {
  mapping: ExportMapping.parse({ email: 'email', firstName: 'first' }),
  listId: 7,
  fullResync: false,
  packing: DEFAULT_PACKING_LIMITS,
};
const columns = resolveColumns(options.mapping, ['email', 'first'], 'S/a.csv');

/** A chunk of `rows` records from `first` on (every 10th email invalid, so notes travel too). */
function chunk(first: number, rows: number, tiny = false): ChunkJob {
  let text = '';
  for (let i = first; i < first + rows; i++) {
    const email = i % 10 === 9 ? 'not-an-email' : tiny ? `x${i}@e.io` : `p${i}@example.com`;
    text += `${email},${tiny ? '' : `Name ${i}`}\n`;
  }
  return {
    file: 'S/a.csv',
    columns,
    encoding: 'utf-8',
    dialect: { delimiter: ',', quoteMode: 'afterDelimiter' },
    bytes: new TextEncoder().encode(text),
    complete: true,
  };
}

/** A batch's content, copied (to compare batches from different pools, or one batch over time). */
function content(batch: RowBatch) {
  return {
    rows: batch.rows,
    lineBreaks: batch.lineBreaks,
    ints: Array.from(batch.ints),
    bytes: Buffer.from(batch.bytes).toString('latin1'),
    json: Buffer.from(batch.json).toString('utf8'),
    notes: batch.notes,
  };
}

/**
 * Prepares `jobs` one at a time (each submitted once the one before is taken); returns each batch with its
 * content as it came, and recycles it after reading when `recycle`.
 */
async function oneAtATime(pool: RowPreparerPool, jobs: ChunkJob[], recycle: boolean) {
  const out: { batch: RowBatch; content: ReturnType<typeof content> }[] = [];
  for (const job of jobs) {
    pool.submit(job, 1);
    const { batch } = await pool.next();
    out.push({ batch, content: content(batch) });
    if (recycle) pool.recycle(batch);
  }
  return out;
}

/** Runs `use` with a pool of `threads` worker threads, closed afterwards. */
async function withPool<T>(threads: number, use: (pool: RowPreparerPool) => Promise<T>): Promise<T> {
  const pool = new RowPreparerPool(options, Snapshot.empty().lookup, threads);
  try {
    return await use(pool);
  } finally {
    await pool.close();
  }
}

/** The same chunks prepared inline (no threads, no shared memory): what every batch must equal. */
async function inline(jobs: ChunkJob[]) {
  return (await withPool(0, (pool) => oneAtATime(pool, jobs, false))).map((b) => b.content);
}

describe('RowPreparerPool shared buffer sets', () => {
  it('never writes a batch that was not recycled, and reuses its memory once it is', async () => {
    expect(workerScript(), 'run `npm run build` first').toBeDefined();
    const jobs = Array.from({ length: 14 }, (_, k) => chunk(k * 500, 500));
    const expected = await inline(jobs);
    await withPool(1, async (pool) => {
      // A first chunk taken before a second is submitted is prepared inline (no thread for a one-chunk
      // input); the second goes to the thread.
      pool.submit(jobs[0]!, 1);
      const { batch: first } = await pool.next();
      expect(content(first)).toEqual(expected[0]);
      expect(pool.threadedChunks).toBe(0);
      // Its own arrays: nothing to release or reuse.
      const released: ArrayBufferLike[] = [];
      pool.recycle(first, (json) => released.push(json));
      expect(released).toEqual([]);
      pool.submit(jobs[1]!, 1);
      const kept = (await pool.next()).batch;
      expect(kept.json.buffer).toBeInstanceOf(SharedArrayBuffer);
      const keptContent = content(kept);
      expect(keptContent).toEqual(expected[1]);

      // Ten more chunks, two in flight at a time, each recycled as soon as it is read: none may land in the
      // memory of the batch not recycled, which stays as it was.
      const later: RowBatch[] = [];
      pool.submit(jobs[2]!, 1);
      for (let k = 3; k <= 12; k++) {
        pool.submit(jobs[k]!, 1);
        const { batch } = await pool.next();
        expect(content(batch)).toEqual(expected[k - 1]);
        for (const key of ['ints', 'bytes', 'json'] as const)
          expect(batch[key].buffer).not.toBe(kept[key].buffer);
        pool.recycle(batch, (json) => released.push(json));
        later.push(batch);
      }
      // Each shared batch's JSON buffer was released before its memory went back.
      expect(released).toEqual(later.map((b) => b.json.buffer));
      const { batch: last } = await pool.next();
      expect(content(last)).toEqual(expected[12]);
      expect(content(kept)).toEqual(keptContent);
      // Sets were reused all along (a few, not one per chunk).
      expect(new Set(later.map((b) => b.json.buffer)).size).toBeLessThanOrEqual(3);

      // Recycled: the next chunk is prepared into the memory the kept batch had.
      pool.recycle(last);
      pool.recycle(kept);
      pool.submit(jobs[13]!, 1);
      const { batch: reused } = await pool.next();
      expect(content(reused)).toEqual(expected[13]);
      expect(reused.json.buffer).toBe(kept.json.buffer);
    });
  });

  it('grows buffers a batch outgrows and a chunk too large for its set, and keeps using them', async () => {
    // Tiny records make ~4× their bytes of JSON and 48 bytes of row ints each: more than a set is sized for.
    const jobs = [
      chunk(0, 300),
      chunk(300, 300),
      chunk(600, 20_000, true),
      chunk(20_600, 300),
      // ~170 KB: more than the 80 KB input the set was first made with.
      chunk(21_000, 6_000),
      chunk(27_000, 300, true),
    ];
    const expected = await inline(jobs);
    await withPool(1, async (pool) => {
      const prepared = await oneAtATime(pool, jobs, true);
      expect(prepared.map((b) => b.content)).toEqual(expected);
      // One set, reused each time: its JSON buffer was replaced once (grown), then kept.
      const threaded = prepared.slice(1).map((b) => b.batch);
      expect(new Set(threaded.map((b) => b.json.buffer)).size).toBe(2);
      expect(threaded.at(-1)!.json.buffer).toBe(threaded[1]!.json.buffer);
      expect(threaded[1]!.json.buffer.byteLength).toBeGreaterThan(threaded[0]!.json.buffer.byteLength);
    });
  });

  it('falls back to copies in messages for a caller that never recycles', async () => {
    const jobs = Array.from({ length: 22 }, (_, k) => chunk(k * 100, 100));
    const expected = await inline(jobs);
    await withPool(1, async (pool) => {
      const prepared = await oneAtATime(pool, jobs, false);
      expect(prepared.map((b) => b.content)).toEqual(expected);
      // After 16 sets the chunks travel in messages and the batches in transferred arrays.
      const batches = prepared.map((b) => b.batch);
      const shared = batches.filter((b) => b.json.buffer instanceof SharedArrayBuffer);
      expect(shared).toHaveLength(16);
      expect(batches.at(-1)!.json.buffer).not.toBeInstanceOf(SharedArrayBuffer);
    });
  });

  it('spreads chunks over two threads, each with its own sets, with the same batches', async () => {
    const jobs = Array.from({ length: 12 }, (_, k) => chunk(k * 700, 700));
    const expected = await inline(jobs);
    await withPool(2, async (pool) => {
      const out = [];
      let submitted = 0;
      while (submitted < 4) pool.submit(jobs[submitted++]!, 1);
      while (pool.pending) {
        const { batch } = await pool.next();
        out.push(content(batch));
        pool.recycle(batch);
        if (submitted < jobs.length) pool.submit(jobs[submitted++]!, 1);
      }
      expect(out).toEqual(expected);
      // The first chunk waited for the second and went to a thread with it.
      expect(pool.threadedChunks).toBe(12);
    });
  });

  it('holds the first chunk until a second one comes, then prepares both on threads', async () => {
    const jobs = [chunk(0, 400), chunk(400, 400), chunk(800, 400)];
    const expected = await inline(jobs);
    await withPool(1, async (pool) => {
      pool.submit(jobs[0]!, 1);
      expect(pool.threadedChunks).toBe(0);
      pool.submit(jobs[1]!, 1);
      expect(pool.threadedChunks).toBe(2);
      pool.submit(jobs[2]!, 1);
      for (let k = 0; k < 3; k++) {
        const { batch } = await pool.next();
        expect(content(batch)).toEqual(expected[k]);
        expect(batch.json.buffer).toBeInstanceOf(SharedArrayBuffer);
        pool.recycle(batch);
      }
    });
    // A single chunk never starts a thread: it is prepared inline when it is needed.
    await withPool(1, async (pool) => {
      pool.submit(jobs[0]!, 1);
      const { batch } = await pool.next();
      expect(content(batch)).toEqual(expected[0]);
      expect(batch.json.buffer).not.toBeInstanceOf(SharedArrayBuffer);
      expect(pool.threadedChunks).toBe(0);
      expect(pool.pending).toBe(0);
    });
  });

  it('prepares the held chunk inline when the process has no thread left for this pool', async () => {
    const jobs = [chunk(0, 300), chunk(300, 300)];
    const expected = await inline(jobs);
    // Another pool takes every thread of the process (its second chunk makes it take them).
    await withPool(defaultPrepareThreads(), async (busy) => {
      busy.submit(jobs[0]!, 1);
      busy.submit(jobs[1]!, 1);
      await withPool(1, async (pool) => {
        pool.submit(jobs[0]!, 1);
        pool.submit(jobs[1]!, 1);
        for (let k = 0; k < 2; k++) {
          const { batch } = await pool.next();
          expect(content(batch)).toEqual(expected[k]);
          expect(batch.json.buffer).not.toBeInstanceOf(SharedArrayBuffer);
        }
        expect(pool.threadedChunks).toBe(0);
      });
      for (let k = 0; k < 2; k++) expect(content((await busy.next()).batch)).toEqual(expected[k]);
    });
  });

  it('drops a held chunk on close, and reports a chunk that cannot be sent to a thread in its turn', async () => {
    const jobs = [chunk(0, 300), chunk(300, 300), chunk(600, 300)];
    const held = new RowPreparerPool(options, Snapshot.empty().lookup, 1);
    held.submit(jobs[0]!, 1);
    await held.close();
    expect(held.pending).toBe(0);
    expect(held.threadedChunks).toBe(0);

    const expected = await inline(jobs);
    await withPool(1, async (pool) => {
      pool.submit(jobs[0]!, 1);
      // The thread cannot be reached for the second chunk (the held first one went through).
      const send = Reflect.get(pool, 'onThread') as (...args: unknown[]) => Promise<RowBatch>;
      let calls = 0;
      Reflect.set(pool, 'onThread', (...args: unknown[]) => {
        if (++calls === 2) throw new Error('cannot post the chunk');
        return send.apply(pool, args);
      });
      pool.submit(jobs[1]!, 1);
      pool.submit(jobs[2]!, 1);
      expect(content((await pool.next()).batch)).toEqual(expected[0]);
      await expect(pool.next()).rejects.toThrow('cannot post the chunk');
      expect(content((await pool.next()).batch)).toEqual(expected[2]);
    });
  });
});
