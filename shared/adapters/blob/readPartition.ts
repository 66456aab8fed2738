/**
 * Streams one segment CSV blob into records: download → gunzip (when gzip) → decode → tokenize.
 * Memory stays flat: one download chunk, one decoded chunk and the unfinished record at a time.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { TextDecoder } from 'node:util';
import { createGunzip } from 'node:zlib';

import type { ContainerClient } from '@azure/storage-blob';

import type { CsvFormat, TextEncodingName } from '../../domain/segments/cdmModel';
import { type CsvRecordSink, CsvTokenizer } from '../../domain/segments/csvTokenizer';
import { InputFileError } from '../../errors';

/** Callbacks for one file: the header (or the model's columns) first, then each data record. */
export interface PartitionHandlers {
  /** Called once with the column names before any record (not called for an empty file). */
  columns(names: string[]): void;
  record: CsvRecordSink;
  /** Awaited after each decoded chunk: where callers apply backpressure (e.g. uploads in flight). */
  afterChunk?(): Promise<void>;
}

// Signatures of files that are certainly not CSV text (magic numbers from their format specifications).
const BINARY_SIGNATURES: { name: string; bytes: number[] }[] = [
  { name: 'a PNG image', bytes: [0x89, 0x50, 0x4e, 0x47] },
  { name: 'a ZIP archive (e.g. xlsx)', bytes: [0x50, 0x4b, 0x03, 0x04] },
  { name: 'a PDF document', bytes: [0x25, 0x50, 0x44, 0x46] },
  { name: 'a JPEG image', bytes: [0xff, 0xd8, 0xff] },
  { name: 'a GIF image', bytes: [0x47, 0x49, 0x46, 0x38] },
  { name: 'a Parquet file', bytes: [0x50, 0x41, 0x52, 0x31] },
];

/** Reads `blobName` with `format`, calling `handlers` for the columns and each record. */
export async function readPartition(
  container: ContainerClient,
  blobName: string,
  format: CsvFormat,
  handlers: PartitionHandlers,
): Promise<void> {
  const download = await container.getBlobClient(blobName).download(0);
  const body = download.readableStreamBody;
  if (!body) throw new InputFileError(blobName, 'has no content stream');
  const tokenizer = new CsvTokenizer(blobName, format.dialect);
  let header = format.columnHeaders;
  let announced = false;
  const onRecord: CsvRecordSink = (fields, line) => {
    if (header) {
      header = false;
      announced = true;
      handlers.columns(fields);
      return;
    }
    if (!announced) {
      announced = true;
      handlers.columns(format.columns ?? []);
    }
    handlers.record(fields, line);
  };

  let decoder: TextDecoder | undefined;
  let encoding: TextEncodingName = format.encoding;
  const decode = (bytes: Uint8Array | undefined): string => {
    try {
      return bytes ? decoder!.decode(bytes, { stream: true }) : decoder!.decode();
    } catch (error) {
      // Locate the bad bytes: decode leniently and count the lines before the first replacement character.
      const lenient = bytes ? new TextDecoder(encoding).decode(bytes) : '';
      const bad = lenient.indexOf('\ufffd');
      throw new InputFileError(
        blobName,
        `is not valid ${encoding} text (check the file's encoding setting; or it is not a CSV file)`,
        { line: tokenizer.lineAfter(bad === -1 ? '' : lenient.slice(0, bad)), cause: error },
      );
    }
  };
  try {
    for await (const bytes of decompressed(body, blobName)) {
      if (!decoder) {
        // A byte-order mark says what the file is, whatever the settings claim.
        encoding = bomEncoding(bytes) ?? encoding;
        decoder = new TextDecoder(encoding, { fatal: true });
      }
      tokenizer.push(decode(bytes), onRecord);
      if (handlers.afterChunk) await handlers.afterChunk();
    }
    if (decoder) tokenizer.push(decode(undefined), onRecord);
    tokenizer.end(onRecord);
    if (handlers.afterChunk) await handlers.afterChunk();
  } finally {
    // Stop the download when we leave early (a bad file): nothing else would close the socket.
    (body as Readable).destroy();
  }
}

/** The body's bytes, gunzipped when they start with the gzip magic (whatever the file is called). */
async function* decompressed(body: NodeJS.ReadableStream, file: string): AsyncGenerator<Buffer> {
  const iterator = (body as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  const first = await iterator.next();
  if (first.done) return;
  const head = first.value;
  for (const signature of BINARY_SIGNATURES) {
    if (signature.bytes.every((b, i) => head[i] === b)) {
      throw new InputFileError(file, `is ${signature.name}, not a CSV file`, { line: 1 });
    }
  }
  async function* all(): AsyncGenerator<Buffer> {
    yield head;
    for (;;) {
      const next = await iterator.next();
      if (next.done) return;
      yield next.value;
    }
  }
  if (!(head[0] === 0x1f && head[1] === 0x8b)) {
    yield* all();
    return;
  }
  const gunzip = createGunzip();
  const feeding = pipeline(Readable.from(all()), gunzip);
  feeding.catch(() => undefined); // surfaced through the iteration below
  try {
    for await (const chunk of gunzip) yield chunk as Buffer;
    await feeding;
  } catch (error) {
    if (error instanceof InputFileError) throw error;
    const code = (error as { code?: string }).code ?? '';
    if (code.startsWith('Z_') || code.startsWith('ERR_')) {
      throw new InputFileError(file, `is not a valid gzip file (${(error as Error).message})`, {
        cause: error,
      });
    }
    throw error;
  }
}

function bomEncoding(bytes: Uint8Array): TextEncodingName | undefined {
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) return 'utf-8';
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return 'utf-16le';
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return 'utf-16be';
  return undefined;
}
