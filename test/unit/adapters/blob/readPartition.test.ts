/**
 * readPartition with a fake blob whose download arrives in parts we choose (Azurite's parts are its own):
 * the edges where a part ends must not change what is read.
 */
import { Readable } from 'node:stream';

import type { ContainerClient } from '@azure/storage-blob';
import { describe, expect, it } from 'vitest';

import { type RawChunk, readPartition } from '../../../../shared/adapters/blob/readPartition';
import { type CsvFormat, PLAIN_CSV_FORMAT } from '../../../../shared/domain/segments/cdmModel';

/** A container whose one blob downloads as exactly these parts. */
function blobOf(parts: number[][]): ContainerClient {
  return {
    getBlobClient: () => ({
      download: () =>
        Promise.resolve({ readableStreamBody: Readable.from(parts.map((p) => Buffer.from(p))) }),
    }),
  } as unknown as ContainerClient;
}

const bytes = (text: string) => [...Buffer.from(text, 'utf8')];

/** Reads a blob both ways; returns what each way announced and the records' text. */
async function readBoth(parts: number[][], format: CsvFormat) {
  const out: Record<string, { columns: string[][]; data: string[] }> = {};
  for (const mode of ['records', 'chunks'] as const) {
    const seen = { columns: [] as string[][], data: [] as string[] };
    await readPartition(blobOf(parts), 'S/a.csv', format, {
      columns: (names) => void seen.columns.push(names),
      record: (fields, line) => void seen.data.push(`${line}:${fields.join('|')}`),
      ...(mode === 'chunks'
        ? {
            chunkBytes: 1,
            chunk: (c: RawChunk) => {
              seen.data.push(`chunk@${c.line ?? '+'}:${Buffer.from(c.bytes).toString('utf8')}`);
              return Promise.resolve();
            },
          }
        : {}),
    });
    out[mode] = seen;
  }
  return out;
}

describe('readPartition at the edges of download parts', () => {
  it('takes off a byte-order mark split across the first parts, both ways', async () => {
    const text = bytes('email,name\r\na@example.com,A\r\n');
    const { records, chunks } = await readBoth(
      [
        [0xef, 0xbb],
        [0xbf, ...text],
      ],
      PLAIN_CSV_FORMAT,
    );
    expect(records!.columns).toEqual([['email', 'name']]);
    expect(chunks!.columns).toEqual([['email', 'name']]);
    expect(chunks!.data).toEqual(['chunk@2:a@example.com,A\r\n']);
  });

  it('announces no columns for a headerless file of blank lines, both ways', async () => {
    const format: CsvFormat = { ...PLAIN_CSV_FORMAT, columnHeaders: false, columns: ['email'] };
    const { records, chunks } = await readBoth([bytes('\r\n  \n'), bytes('\t\r\n')], format);
    expect(records!.columns).toEqual([]);
    expect(chunks!.columns).toEqual([]);
    expect(chunks!.data).toEqual([]);
  });

  it('starts the first chunk of a headerless file on the line after its leading blank lines', async () => {
    const format: CsvFormat = { ...PLAIN_CSV_FORMAT, columnHeaders: false, columns: ['email'] };
    const { records, chunks } = await readBoth([bytes('\n\r\n'), bytes('a@example.com\n')], format);
    expect(records!.data).toEqual(['3:a@example.com']);
    expect(chunks!.data).toEqual(['chunk@3:a@example.com\n']);
  });

  it('fails a header that never ends within 4 MB the way records mode does, without buffering the file', async () => {
    const parts = [bytes('email,"name\n'), ...Array.from({ length: 90 }, () => bytes('x'.repeat(65_536)))];
    const { message: a } = await readBoth(parts, PLAIN_CSV_FORMAT).then(
      () => ({ message: 'no error' }),
      (e: Error) => e,
    );
    expect(a).toMatch(/S\/a\.csv:1: a record is longer than 1000000 characters/);
    // Chunks mode alone (records mode fails first in readBoth).
    const error = await readPartition(blobOf(parts), 'S/a.csv', PLAIN_CSV_FORMAT, {
      columns: () => undefined,
      record: () => undefined,
      chunk: () => Promise.resolve(),
    }).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(error?.message).toMatch(/S\/a\.csv:1: a record is longer than 1000000 characters/);
  });
});
