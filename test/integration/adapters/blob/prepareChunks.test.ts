/**
 * Prepare parses files three ways: record by record on the calling thread (UTF-16, multi-character
 * delimiters, or `chunkBytes: 0`), or cut into chunks of whole records prepared inline or on worker
 * threads. Whatever the way, the result must be the same to the byte: slices, rejected rows with their
 * lines, counts, target snapshot, and errors with their lines. These tests run all three through Azurite.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

import type { ContainerClient } from '@azure/storage-blob';
import { afterEach, describe, expect, it, vi } from 'vitest';

import {
  prepareSegments,
  type PrepareSegmentsDeps,
  type PrepareSegmentsInput,
} from '../../../../shared/adapters/blob/prepareSegments';
import { workerScript } from '../../../../shared/adapters/blob/rowPreparerPool';
import { SegmentPipeline } from '../../../../shared/domain/segments/segmentPipeline';
import { SnapshotBuilder } from '../../../../shared/domain/segments/snapshot';
import { InputFileError } from '../../../../shared/errors';
import { freshContainer } from '../../../helpers/azurite';
import {
  uploadText,
  writeCustomerInsightsSegment,
  writePlainSegment,
} from '../../../helpers/segmentFixtures';

const FIXTURES = path.join(__dirname, '../../../fixtures/segments');
const MAPPING = { email: 'email', firstName: 'firstname', lastName: 'lastname', phone: 'phone' };

/** The three ways, and what each must show it did. */
const WAYS: { name: string; deps: Partial<PrepareSegmentsDeps> }[] = [
  { name: 'records', deps: { chunkBytes: 0 } },
  // A cut after the last record end of every download part (Azurite's parts decide how many).
  { name: 'chunks inline', deps: { chunkBytes: 1, threads: 0 } },
  { name: 'chunks on 2 threads', deps: { chunkBytes: 200, threads: 2 } },
];

async function everything(work: ContainerClient, runFolder: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for await (const b of work.listBlobsFlat({ prefix: `${runFolder}/` })) {
    const bytes = await work.getBlobClient(b.name).downloadToBuffer();
    out[b.name.slice(runFolder.length)] = /\.(gz|br)$/.test(b.name)
      ? bytes.toString('base64')
      : bytes.toString('utf8');
  }
  return out;
}

/** Runs Prepare each way on the same input; returns what each staged. */
async function eachWay(segments: ContainerClient, input: Partial<PrepareSegmentsInput>) {
  const work = await freshContainer('work');
  const results = [];
  for (const [i, way] of WAYS.entries()) {
    const result = await prepareSegments(
      {
        exportId: 'e',
        runId: `r${i}`,
        segments: ['S'],
        mapping: MAPPING,
        listId: 3,
        profileCap: 1e6,
        ...input,
      },
      { segmentContainer: segments, workContainer: work, ...way.deps },
    );
    results.push({ way: way.name, result, blobs: await everything(work, result.runFolder) });
  }
  return results;
}

function expectSameEverywhere(results: Awaited<ReturnType<typeof eachWay>>) {
  const [first, ...others] = results;
  for (const other of others) {
    expect(other.result.counts, other.way).toEqual(first!.result.counts);
    expect(other.blobs, other.way).toEqual(first!.blobs);
  }
  expect(results[0]!.result.parsing).toEqual({ chunks: 0, onWorkerThreads: 0 });
  expect(results[1]!.result.parsing.onWorkerThreads).toBe(0);
  expect(results[1]!.result.parsing.chunks).toBeGreaterThan(1);
  // The worker script is the build's (npm test builds first); without it nothing would run on a thread.
  expect(workerScript(), 'run `npm run build` first').toBeDefined();
  expect(results[2]!.result.parsing.onWorkerThreads).toBeGreaterThan(0);
}

async function messages(segments: ContainerClient, input: Partial<PrepareSegmentsInput>): Promise<string[]> {
  const work = await freshContainer('work');
  const out: string[] = [];
  for (const way of WAYS) {
    const run = prepareSegments(
      { exportId: 'e', runId: 'r', segments: ['S'], mapping: MAPPING, listId: 3, profileCap: 1e6, ...input },
      { segmentContainer: segments, workContainer: work, ...way.deps },
    );
    const error = await run.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error, way.name).toBeInstanceOf(InputFileError);
    out.push((error as Error).message);
  }
  return out;
}

/** Prepare of segment S in 8 KiB chunks on the calling thread. */
async function prepareInline8k(segments: ContainerClient) {
  return prepareSegments(
    { exportId: 'e', runId: 'r', segments: ['S'], mapping: MAPPING, listId: 3, profileCap: 1e6 },
    { segmentContainer: segments, workContainer: await freshContainer('work'), chunkBytes: 8192, threads: 0 },
  );
}

describe('prepareSegments, record by record and in chunks on threads', () => {
  it('runs worker threads from a build at least as new as the sources (npm test builds first)', () => {
    const script = workerScript();
    expect(script, 'run `npm run build` first').toBeDefined();
    const built = statSync(script!).mtimeMs;
    const root = path.join(__dirname, '../../../../shared');
    const stale = readdirSync(root, { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.ts'))
      .filter((f) => statSync(path.join(root, f)).mtimeMs > built);
    expect(stale, 'sources newer than dist/: run `npm run build`').toEqual([]);
  });

  afterEach(() => vi.restoreAllMocks());

  it("sizes the run's tables once per file from its first chunk, so they do not grow by doubling", async () => {
    const segments = await freshContainer('seg');
    const { blobs } = await writePlainSegment(segments, 'S', [{ rows: 6000, seed: 5, invalidShare: 0.05 }]);
    const fileBytes = (await segments.getBlobClient(blobs[0]!).getProperties()).contentLength!;
    const expectCalls = vi.spyOn(SegmentPipeline.prototype, 'expect');
    const grown = vi.spyOn(
      SnapshotBuilder.prototype as unknown as { growEntries: (size?: number) => void },
      'growEntries',
    );
    const result = await prepareInline8k(segments);
    expect(result.counts.contacts).toBeGreaterThan(5000);
    expect(expectCalls).toHaveBeenCalledTimes(1);
    const [bytes, batch, sampleBytes] = expectCalls.mock.calls[0]!;
    // The rest of the file after its first chunk (and the header line before it), judged by that chunk.
    expect(bytes + sampleBytes).toBeLessThanOrEqual(fileBytes);
    expect(bytes + sampleBytes).toBeGreaterThan(fileBytes - 200);
    expect(sampleBytes).toBeGreaterThanOrEqual(8192);
    expect(batch.rows).toBeGreaterThan(50);
    // A first run's target starts at 1,024 entries: without the estimate it would double three times; with
    // it, it grows once, to the estimate, which holds every contact.
    expect(grown).toHaveBeenCalledTimes(1);
    expect(grown.mock.calls[0]![0]).toBeGreaterThanOrEqual(result.counts.contacts);
    expect(grown.mock.calls[0]![0]).toBeLessThan(result.counts.rows * 1.2);
  });

  it('does not judge a gzipped file by its stored size (its tables grow as they must)', async () => {
    const segments = await freshContainer('seg');
    await writePlainSegment(segments, 'S', [{ rows: 3000, seed: 5 }], { gzip: true });
    const expectCalls = vi.spyOn(SegmentPipeline.prototype, 'expect');
    const result = await prepareInline8k(segments);
    expect(result.counts.contacts).toBe(3000);
    expect(result.parsing.chunks).toBeGreaterThan(10);
    expect(expectCalls).not.toHaveBeenCalled();
  });

  it('stages the same bytes each way for generated partitions with duplicates, invalid and missing emails', async () => {
    const segments = await freshContainer('seg');
    await writePlainSegment(segments, 'S', [
      { rows: 400, seed: 3, invalidShare: 0.05, duplicateShare: 0.1, missingShare: 0.03 },
      { rows: 300, seed: 3, firstIndex: 200, duplicateShare: 0.1 },
    ]);
    await writePlainSegment(segments, 'S', [{ rows: 150, seed: 4, firstIndex: 650 }], {
      gzip: true,
      lineEnding: '\n',
    });
    const results = await eachWay(segments, {});
    expect(results[0]!.result.counts.rows).toBe(850);
    expectSameEverywhere(results);
  });

  it.each([
    ['CRLF (as written)', (t: string) => t],
    ['LF only', (t: string) => t.replace(/\r\n/g, '\n')],
    ['CR only', (t: string) => t.replace(/\r\n|\n/g, '\r')],
  ])('stages the same bytes each way for the messy file with %s line ends', async (_name, ends) => {
    const segments = await freshContainer('seg');
    const messy = ends(readFileSync(path.join(FIXTURES, 'messy.csv'), 'utf8'));
    // Twice, so that the second copy's rows are duplicates found across chunks (and threads).
    await uploadText(segments, 'S/a.csv', [messy]);
    await uploadText(segments, 'S/b.csv', [messy.replace(/^\uFEFF/, '')]);
    const results = await eachWay(segments, {
      mapping: { email: 'EMAIL', firstName: 'first name', lastName: 'Last Name', phone: 'phone' },
    });
    expect(results[0]!.blobs['/rejected.csv']).toContain('S/a.csv,10,dave@example.com,ragged_row');
    expectSameEverywhere(results);
  });

  it.each([
    [
      'pipe, QuoteAlways, UTF-8, no header',
      { delimiter: '|', csvStyle: 'CsvStyle.QuoteAlways', encoding: 'UTF-8' },
    ],
    [
      'tab, no quoting, windows-1252',
      { delimiter: '\t', quoteStyle: 'QuoteStyle.None', encoding: 'windows-1252' },
    ],
    [
      'semicolon, header, UTF-16LE (always record by record)',
      { columnHeaders: true, delimiter: ';', encoding: 'UTF-16' },
    ],
  ] as const)(
    'stages the same bytes each way for Customer Insights partitions in %s',
    async (_name, format) => {
      const segments = await freshContainer('seg');
      await writeCustomerInsightsSegment(segments, {
        segment: 'S',
        timestamp: '2024/05/01/0930',
        parts: [
          { rows: 120, duplicateShare: 0.1, invalidShare: 0.05 },
          { rows: 80, firstIndex: 100 },
        ],
        format,
      });
      const results = await eachWay(segments, {});
      const [first, ...others] = results;
      for (const other of others) {
        expect(other.result.counts, other.way).toEqual(first!.result.counts);
        expect(other.blobs, other.way).toEqual(first!.blobs);
      }
      const utf16 = format.encoding === 'UTF-16';
      // UTF-16 cannot be cut as bytes: every way reads it record by record.
      expect(results[2]!.result.parsing.chunks > 0).toBe(!utf16);
    },
  );

  it.each([
    ['a NUL byte', 300, Buffer.from('x\u0000y,a,b,c,d\n'), /S\/a\.csv:301: contains binary data/],
    [
      'bytes that are not UTF-8',
      250,
      Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x40, 0x78, 0x2e, 0x64, 0x65, 0x2c, 0x61, 0x0a]),
      /S\/a\.csv:251: is not valid utf-8 text/,
    ],
    [
      'a quote never closed',
      401,
      Buffer.from('"open@example.com,a,b,c,d\n'),
      /S\/a\.csv:402: a quoted field is never closed/,
    ],
  ])(
    'fails with the same message and file line each way for %s in a later chunk',
    async (_name, at, inserted, message) => {
      const segments = await freshContainer('seg');
      await writePlainSegment(segments, 'S', [{ rows: 400, seed: 8 }], { lineEnding: '\n' });
      const blob = segments.getBlobClient('S/part-00001.csv');
      const lines = (await blob.downloadToBuffer()).toString('utf8').split('\n');
      const before = Buffer.from(
        lines
          .slice(0, at)
          .map((l) => `${l}\n`)
          .join(''),
      );
      const after = Buffer.from(lines.slice(at).join('\n'));
      await uploadText(segments, 'S/a.csv', [Buffer.concat([before, inserted, after])]);
      await blob.delete();
      const got = await messages(segments, { mapping: { email: 'email' } });
      expect(got[0]).toMatch(message);
      expect(new Set(got).size).toBe(1);
    },
  );

  it('reports the first bad byte of a file in the wrong encoding each way, though every later chunk fails too', async () => {
    const segments = await freshContainer('seg');
    const lines = ['email,name'];
    for (let i = 1; i < 20_000; i++) lines.push(`p${i}@example.com,${i >= 4_999 ? 'Jos\u00e9' : 'Ann'}`);
    // Latin-1 bytes: from line 5000 on, every line holds a byte that is not UTF-8.
    await uploadText(segments, 'S/a.csv', [Buffer.from(lines.join('\n') + '\n', 'latin1')]);
    const got = await messages(segments, { mapping: { email: 'email' } });
    expect(got[0]).toMatch(/S\/a\.csv:5000: is not valid utf-8 text/);
    expect(new Set(got).size).toBe(1);
  });

  it('reports the error of the earlier file each way when a later file fails too', async () => {
    const segments = await freshContainer('seg');
    const a = Array.from({ length: 2_000 }, (_, i) => `p${i}@example.com`);
    a[1_500] = 'x\u0000y';
    await uploadText(segments, 'S/a.csv', [`email\n${a.join('\n')}\n`]);
    await uploadText(segments, 'S/b.csv', ['email\n\u0000\n']);
    const got = await messages(segments, { mapping: { email: 'email' } });
    expect(got[0]).toMatch(/S\/a\.csv:1502: contains binary data/);
    expect(new Set(got).size).toBe(1);
  });

  it('reports the cap each way when it is passed before a bad record of the same chunk', async () => {
    const segments = await freshContainer('seg');
    const rows = Array.from({ length: 30 }, (_, i) => `p${i}@example.com`);
    await uploadText(segments, 'S/a.csv', [`email\n${rows.join('\n')}\nx\u0000y\n`]);
    const work = await freshContainer('work');
    for (const way of WAYS) {
      const run = prepareSegments(
        {
          exportId: 'e',
          runId: 'r',
          segments: ['S'],
          mapping: { email: 'email' },
          listId: 3,
          profileCap: 10,
        },
        { segmentContainer: segments, workContainer: work, ...way.deps },
      );
      await expect(run, way.name).rejects.toThrow(/hold more than 20 unique valid profiles/);
    }
  });

  it('fails a complete record longer than the tokenizer allows the same way, however it was cut', async () => {
    const segments = await freshContainer('seg');
    await uploadText(segments, 'S/a.csv', [
      'email,name\na@example.com,"',
      'y'.repeat(2_000_000),
      '"\nb@example.com,B\n',
    ]);
    const got = await messages(segments, { mapping: { email: 'email' } });
    expect(got[0]).toMatch(/S\/a\.csv:2: a record is longer than 1000000 characters/);
    expect(new Set(got).size).toBe(1);
  });

  it('fails with the same message each way for a record longer than the tokenizer allows', async () => {
    const segments = await freshContainer('seg');
    await uploadText(segments, 'S/a.csv', [
      'email,name\na@example.com,x\nb@example.com,"',
      'y'.repeat(5_000_000),
    ]);
    const got = await messages(segments, { mapping: { email: 'email' } });
    expect(got[0]).toMatch(/S\/a\.csv:3: a record is longer than 1000000 characters/);
    expect(new Set(got).size).toBe(1);
  });
});
