/**
 * Streams one segment CSV blob: download → gunzip (when gzip) → either decode → tokenize into records
 * here, or cut the raw bytes into chunks of whole records for row preparers (see `PartitionHandlers.chunk`).
 * Memory stays flat: a download part, a decoded part or a chunk, and the unfinished record at a time.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { TextDecoder } from 'node:util';
import { createGunzip } from 'node:zlib';

import type { ContainerClient } from '@azure/storage-blob';

import type { CsvFormat, TextEncodingName } from '../../domain/segments/cdmModel';
import * as csvTokenizer from '../../domain/segments/csvTokenizer';
import { type CsvRecordSink, CsvTokenizer } from '../../domain/segments/csvTokenizer';
import { decodeOrFail, decodeWhole } from '../../domain/segments/decodeText';
import { canScan, FirstRecordScanner, RecordBoundaryScanner } from '../../domain/segments/recordBoundaries';
import { InputFileError } from '../../errors';

// Module-level copies of imported constants for the hot loops: see hash64.ts.
const { CR, LF, SPACE, TAB } = csvTokenizer;

/** How a file is handed over: record by record, or as chunks of whole records in raw bytes. */
export type ReadMode = 'records' | 'chunks';

/** One chunk of whole records: raw bytes from a record boundary, and the physical line they start on. */
export interface RawChunk {
  bytes: Uint8Array;
  /** The physical line of the first byte for a file's first chunk; later chunks continue the previous one. */
  line: number | undefined;
  encoding: TextEncodingName;
  /** False for a run of bytes in which no record ends (a record too long to be real): it must fail. */
  complete: boolean;
}

/** Callbacks for one file: the header (or the model's columns) first, then its records or chunks. */
export interface PartitionHandlers {
  /**
   * Called once with the column names before any record or chunk (not called for an empty file), and how
   * the data will come: `records` calls `record` for each, `chunks` calls `chunk`.
   */
  columns(names: string[], mode: ReadMode): void | Promise<void>;
  record: CsvRecordSink;
  /**
   * When given, files whose encoding and dialect allow cutting raw bytes at record boundaries (see
   * `canScan`) come as chunks of about `chunkBytes` instead of records, for parsing elsewhere (e.g. on
   * worker threads). Awaited: where callers apply backpressure.
   */
  chunk?: (chunk: RawChunk) => Promise<void>;
  chunkBytes?: number;
  /** Awaited after each decoded chunk (records mode): where callers apply backpressure (e.g. uploads in flight). */
  afterChunk?(): Promise<void>;
  /**
   * Called once, before any record or chunk, with the blob's size in bytes; not for a gzipped file (its
   * stored size says little about how much text it holds).
   */
  size?(bytes: number): void;
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

/** A run of bytes longer than this without a record end fails (the tokenizer's 1,000,000-character limit). */
const MAX_UNTERMINATED_BYTES = 4 * 1024 * 1024;
/**
 * Default bytes per chunk. 256 KiB keeps a chunk's working set (raw bytes, decoded text, JSON, row records)
 * near one core's 1 MB L2 cache and the bytes in flight small: lower peak memory than larger chunks for the
 * same CPU time, at the price of more (cheap) thread messages (bench/results/pipeline.md).
 */
const DEFAULT_CHUNK_BYTES = 256 * 1024;

/** Reads `blobName` with `format`, calling `handlers` for the columns and each record or chunk. */
export async function readPartition(
  container: ContainerClient,
  blobName: string,
  format: CsvFormat,
  handlers: PartitionHandlers,
): Promise<void> {
  const download = await container.getBlobClient(blobName).download(0);
  const body = download.readableStreamBody;
  if (!body) throw new InputFileError(blobName, 'has no content stream');
  const parts = decompressed(body, blobName, () => handlers.size?.(download.contentLength ?? 0));
  try {
    const first = await parts.next();
    if (first.done) return;
    let head: Uint8Array = first.value;
    // A byte-order mark may be split across the first parts: look at three bytes at least.
    while (head.length < 3) {
      const more = await parts.next();
      if (more.done) break;
      head = Buffer.concat([head, more.value]);
    }
    // A byte-order mark says what the file is, whatever the settings claim.
    const bom = bomEncoding(head);
    const encoding = bom ?? format.encoding;
    const opened = { file: blobName, format, encoding, handlers, rest: parts };
    if (handlers.chunk && canScan(encoding, format.dialect)) {
      await readChunks({ ...opened, head: bom === 'utf-8' ? head.subarray(3) : head });
    } else {
      await readRecords({ ...opened, head });
    }
  } finally {
    // Stop the download when we leave early (a bad file): nothing else would close the socket.
    (body as Readable).destroy();
  }
}

/** A file being read: its first bytes (`head`, after any byte-order mark in chunks mode) and the rest. */
interface OpenedFile {
  file: string;
  format: CsvFormat;
  encoding: TextEncodingName;
  handlers: PartitionHandlers;
  head: Uint8Array;
  rest: AsyncIterator<Uint8Array>;
}

/** Records mode: decode the stream and tokenize it here. */
async function readRecords({ file, format, encoding, handlers, head, rest }: OpenedFile): Promise<void> {
  const tokenizer = new CsvTokenizer(file, format.dialect);
  let header = format.columnHeaders;
  let announced = false;
  const records: [string[], number][] = [];
  // Records are held back only until the columns are announced (the columns handler is awaited before the
  // first record); from then on they go straight to the handler.
  const collect: CsvRecordSink = (fields, line) =>
    announced ? handlers.record(fields, line) : void records.push([fields, line]);
  const deliver = async () => {
    for (const [fields, line] of records) {
      if (header) {
        header = false;
        announced = true;
        await handlers.columns(fields, 'records');
        continue;
      }
      if (!announced) {
        announced = true;
        await handlers.columns(format.columns ?? [], 'records');
      }
      handlers.record(fields, line);
    }
    records.length = 0;
    if (handlers.afterChunk) await handlers.afterChunk();
  };
  /** Tokenizes `text`; the records before an error in it are delivered first (their errors come first). */
  const tokenize = async (text: string, end: boolean) => {
    try {
      tokenizer.push(text, collect);
      if (end) tokenizer.end(collect);
    } catch (error) {
      await deliver();
      throw error;
    }
    await deliver();
  };
  const decoder = new TextDecoder(encoding, { fatal: true });
  for (let part: Uint8Array | undefined = head; part;) {
    await tokenize(decodeOrFail(decoder, part, encoding, file, tokenizer), false);
    const next = await rest.next();
    part = next.done ? undefined : next.value;
  }
  await tokenize(decodeOrFail(decoder, undefined, encoding, file, tokenizer), true);
}

/**
 * Chunks mode: find record boundaries in the raw bytes (`RecordBoundaryScanner`) and hand over chunks of
 * whole records with the line each starts on; only the header record is decoded here.
 */
async function readChunks({ file, format, encoding, handlers, head, rest }: OpenedFile): Promise<void> {
  const chunk = handlers.chunk!;
  const chunkBytes = handlers.chunkBytes ?? DEFAULT_CHUNK_BYTES;
  const next = async (): Promise<Uint8Array | undefined> => {
    const r = await rest.next();
    return r.done ? undefined : r.value;
  };

  // The header: the first record that is not blank, decoded and tokenized here.
  let part: Uint8Array | undefined = head;
  let line = 1;
  if (format.columnHeaders) {
    let bytes: Uint8Array = head;
    let from = 0;
    let names: string[] | undefined;
    const header = new FirstRecordScanner(format.dialect);
    for (;;) {
      const end = header.scan(bytes, from, bytes.length);
      if (end === -1) {
        const more = await next();
        if (more && bytes.length - from > MAX_UNTERMINATED_BYTES) {
          // No end of the first record in 4 MB: the tokenizer fails it with its line, as in records mode.
          firstRecord(file, format, encoding, line, bytes.subarray(from), false);
          throw new InputFileError(
            file,
            'the header record never ends (an unclosed quote, or not a CSV file)',
            {
              line,
            },
          );
        }
        if (more) {
          bytes = concat([bytes.subarray(from), more]);
          from = 0;
          continue;
        }
        // The file ends inside (or right after) its first record: the rest is that record.
        if (from < bytes.length)
          names = firstRecord(file, format, encoding, line, bytes.subarray(from)).record;
        if (names) await handlers.columns(names, 'chunks');
        return;
      }
      const first = firstRecord(file, format, encoding, line, bytes.subarray(from, end));
      line = first.nextLine;
      from = end;
      if (first.record) {
        names = first.record;
        break;
      }
    }
    await handlers.columns(names, 'chunks');
    part = bytes.subarray(from);
  }

  // The data: chunks of about `chunkBytes`, cut after the last record end seen. Only the first chunk's
  // line is known here; each later chunk continues the line count of the one before (the preparers count).
  const scanner = new RecordBoundaryScanner(format.dialect);
  let announced = format.columnHeaders;
  let parts: Uint8Array[] = [];
  let pendingBytes = 0;
  /** Bytes of `parts` up to the last record end seen (0: none yet). */
  let cut = 0;
  let startLine: number | undefined = line;
  const send = async (bytes: Uint8Array, complete: boolean) => {
    if (!announced) {
      // Blank lines before the first record of a file without a header: records mode announces nothing
      // for them (a file of only blank lines has no columns to check), so neither does this.
      if (complete && isBlankText(bytes)) {
        startLine = firstRecord(file, format, encoding, startLine!, bytes).nextLine;
        return;
      }
      announced = true;
      await handlers.columns(format.columns ?? [], 'chunks');
    }
    await chunk({ bytes, line: startLine, encoding, complete });
    startLine = undefined;
  };
  for (; part; part = await next()) {
    // A part larger than a chunk (a gunzipped file comes in 256 KiB parts) is taken a chunk's worth at a
    // time, so that chunks stay about `chunkBytes` whatever the parts.
    for (let from = 0; from < part.length; from += chunkBytes) {
      const piece = part.length <= chunkBytes ? part : part.subarray(from, from + chunkBytes);
      const end = scanner.scan(piece, 0, piece.length);
      parts.push(piece);
      pendingBytes += piece.length;
      if (end !== -1) cut = pendingBytes - piece.length + end;
      if (cut >= chunkBytes || (cut > 0 && pendingBytes - cut > MAX_UNTERMINATED_BYTES)) {
        const all = concat(parts);
        await send(all.subarray(0, cut), true);
        parts = cut < all.length ? [all.subarray(cut)] : [];
        pendingBytes -= cut;
        cut = 0;
      }
      if (cut === 0 && pendingBytes > MAX_UNTERMINATED_BYTES) {
        // No record end in 4 MB: the tokenizer fails it with its line (or an earlier error in it).
        await send(concat(parts), false);
        return;
      }
    }
  }
  if (pendingBytes) await send(concat(parts), true);
}

/** The first record of `bytes` (whole records starting on `line`; none when blank) and the line after them. */
function firstRecord(
  file: string,
  format: CsvFormat,
  encoding: TextEncodingName,
  line: number,
  bytes: Uint8Array,
  /** False: `bytes` is an unterminated run (no end of record in it), which the tokenizer refuses when too long. */
  complete = true,
): { record: string[] | undefined; nextLine: number } {
  const tokenizer = new CsvTokenizer(file, format.dialect, undefined, line);
  let record: string[] | undefined;
  const keep: CsvRecordSink = (fields) => void (record ??= fields);
  tokenizer.push(decodeWhole(bytes, encoding, file, tokenizer, complete), keep);
  if (complete) tokenizer.end(keep);
  return { record, nextLine: tokenizer.currentLine };
}

/** True when `bytes` hold only spaces, tabs and line breaks. */
function isBlankText(bytes: Uint8Array): boolean {
  for (const b of bytes) if (b !== SPACE && b !== TAB && b !== LF && b !== CR) return false;
  return true;
}

function concat(parts: Uint8Array[]): Uint8Array {
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}

/** The body's bytes, gunzipped when they start with the gzip magic (whatever the file is called). */
async function* decompressed(
  body: NodeJS.ReadableStream,
  file: string,
  /** Called before the first part of a file that is not gzipped. */
  plain: () => void,
): AsyncGenerator<Buffer> {
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
    plain();
    yield* all();
    return;
  }
  // 256 KiB output chunks, not zlib's 16 KB: most of gunzip's CPU is the stream's per-chunk work, so fewer,
  // larger chunks cost a fraction of it (bench/results/pipeline.md).
  const gunzip = createGunzip({ chunkSize: 256 * 1024 });
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
