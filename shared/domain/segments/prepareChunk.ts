/**
 * Preparing one chunk of a file: its raw bytes (whole records) decoded, tokenized and prepared row by row
 * into a `RowBatch`. The same function runs inline and on worker threads (prepareWorker.ts).
 */
import { InputFileError } from '../../errors';
import type { CsvFormat } from './cdmModel';
import { type CsvDialect, CsvTokenizer } from './csvTokenizer';
import { decodeWhole } from './decodeText';
import type { ColumnIndexes } from './exportMapping';
import type { BatchBuffers, RowBatch, RowBatchWriter } from './rowBatch';
import type { RowPreparer } from './rowPreparer';

/** One chunk of a file: whole records (or the file's unterminated tail), as raw bytes. */
export interface ChunkJob {
  file: string;
  columns: ColumnIndexes;
  encoding: CsvFormat['encoding'];
  dialect: CsvDialect;
  bytes: Uint8Array;
  /**
   * True when the chunk ends at a record boundary or the end of the file; false for a run of bytes with no
   * record end in sight (a record longer than the tokenizer allows, which then fails with its line).
   */
  complete: boolean;
}

/**
 * Decodes `job.bytes` and prepares each record into a batch (lines counted from 1 at the chunk's start).
 * The bytes start at a record boundary and are decoded on their own (`ignoreBOM`: a leading byte-order
 * mark was already taken off the file).
 */
export function prepareChunk(
  preparer: RowPreparer,
  job: ChunkJob,
  out: RowBatchWriter,
  /** Where the batch is copied (see `RowBatchWriter.take`). */
  into?: BatchBuffers,
): RowBatch {
  preparer.begin(job.columns);
  const tokenizer = new CsvTokenizer(job.file, job.dialect);
  const record = preparer.sinkInto(out);
  try {
    tokenizer.push(decodeWhole(job.bytes, job.encoding, job.file, tokenizer, job.complete), record);
    if (!job.complete) {
      throw new InputFileError(job.file, 'a record never ends (an unclosed quote, or not a CSV file)', {
        line: tokenizer.currentLine,
      });
    }
    tokenizer.end(record);
  } catch (error) {
    if (!(error instanceof InputFileError)) {
      // A bug, not a bad file: leave the writer empty for the next chunk.
      out.take();
      throw error;
    }
    // The bad file travels as data (lines counted from the chunk's start, like the rows'); the rows before
    // a bad record go with it and are accepted first, as when reading record by record.
    const batch = out.take(0, into);
    batch.error = { line: error.line, detail: error.detail };
    return batch;
  }
  return out.take(tokenizer.currentLine - 1, into);
}
