/**
 * The pool's worker threads prepare chunks into shared buffer sets that are reused chunk after chunk. These
 * tests run real worker threads (the build's script) and check the one rule that makes reuse safe: a
 * batch's memory is not written again while the pipeline still reads it (`holds`), and is reused after.
 */
import { describe, expect, it } from 'vitest';

import { RowPreparerPool, workerScript } from '../../../../shared/adapters/blob/rowPreparerPool';
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

/** The same chunks prepared inline (no threads, no shared memory): what every batch must equal. */
async function inline(jobs: ChunkJob[]) {
  const pool = new RowPreparerPool(options, Snapshot.empty().lookup, 0);
  const out = [];
  for (const job of jobs) {
    pool.submit(job, 1);
    out.push(content((await pool.next()).batch));
  }
  await pool.close();
  return out;
}

describe('RowPreparerPool shared buffer sets', () => {
  it('never writes a batch the pipeline still holds, and reuses its memory once it does not', async () => {
    expect(workerScript(), 'run `npm run build` first').toBeDefined();
    const jobs = Array.from({ length: 15 }, (_, k) => chunk(k * 500, 500));
    const expected = await inline(jobs);
    const pool = new RowPreparerPool(options, Snapshot.empty().lookup, 1);
    try {
      // The first chunk is prepared inline (no thread for a one-chunk input), the second on the thread.
      pool.submit(jobs[0]!, 1);
      pool.submit(jobs[1]!, 1);
      expect(content((await pool.next()).batch)).toEqual(expected[0]);
      const held = (await pool.next()).batch;
      expect(held.json.buffer).toBeInstanceOf(SharedArrayBuffer);
      const heldContent = content(held);
      expect(heldContent).toEqual(expected[1]);
      const holds = (buffer: ArrayBufferLike) => buffer === held.json.buffer;
      pool.recycle(held, holds);

      // Ten more chunks, two in flight at a time, each recycled as soon as it is accepted: none may land in
      // the held batch's memory, and the held batch stays as it was.
      const later: RowBatch[] = [];
      pool.submit(jobs[2]!, 1);
      for (let k = 3; k <= 12; k++) {
        pool.submit(jobs[k]!, 1);
        const { batch } = await pool.next();
        expect(content(batch)).toEqual(expected[k - 1]);
        expect(batch.json.buffer).not.toBe(held.json.buffer);
        expect(batch.ints.buffer).not.toBe(held.ints.buffer);
        pool.recycle(batch, holds);
        later.push(batch);
      }
      const { batch: last } = await pool.next();
      expect(content(last)).toEqual(expected[12]);
      expect(content(held)).toEqual(heldContent);
      // Sets were reused all along (a few, not one per chunk).
      expect(new Set(later.map((b) => b.json.buffer)).size).toBeLessThanOrEqual(3);

      // Released: the next chunks are prepared into the memory the held batch and the last one had.
      pool.recycle(last, () => false);
      pool.submit(jobs[13]!, 1);
      pool.submit(jobs[14]!, 1);
      const { batch: first } = await pool.next();
      const { batch: second } = await pool.next();
      expect([content(first), content(second)]).toEqual(expected.slice(13));
      expect([first.json.buffer, second.json.buffer]).toEqual([last.json.buffer, held.json.buffer]);
    } finally {
      await pool.close();
    }
  });

  it('grows a set that a batch outgrows, and falls back to copies for a caller that never recycles', async () => {
    // Tiny records make ~4× their bytes of JSON and 48 bytes of row ints each: more than a set is sized for.
    const jobs = [
      chunk(0, 300),
      chunk(300, 300),
      chunk(600, 20_000, true),
      ...Array.from({ length: 20 }, (_, k) => chunk(30_000 + k * 100, 100)),
    ];
    const expected = await inline(jobs);
    const pool = new RowPreparerPool(options, Snapshot.empty().lookup, 1);
    try {
      const batches: RowBatch[] = [];
      for (const job of jobs) {
        pool.submit(job, 1);
        const { batch } = await pool.next();
        batches.push(batch);
      }
      expect(batches.map(content)).toEqual(expected);
      expect(batches[2]!.json.buffer).toBeInstanceOf(SharedArrayBuffer);
      // Never recycled: after 16 sets the chunks travel in messages and the batches in transferred arrays.
      const shared = batches.filter((b) => b.json.buffer instanceof SharedArrayBuffer);
      expect(shared).toHaveLength(16);
      expect(batches.at(-1)!.json.buffer).not.toBeInstanceOf(SharedArrayBuffer);
    } finally {
      await pool.close();
    }
  });
});
