/**
 * A streaming CSV tokenizer that knows the physical line on which every record starts.
 *
 * Why this and not csv-parse (which the project keeps only as the benchmark's reference):
 * - speed: the pipeline benchmark downloads and parses the same 1,000,000-row file both ways side by side
 *   (`bench/pipeline.ts`, rows "bare parse" and "download + csv-parse"); csv-parse takes several times as
 *   long (bench/results/pipeline.md), more than the whole of Prepare;
 * - line numbers: its line counter drifts on mixed line endings (`\r\n` counted twice once `\r` and `\n`
 *   are both allowed) and after a skipped malformed record it cannot resynchronise, while the rejected-rows
 *   file promises "the physical line where the record starts; quoted newlines count" (pinned by this
 *   tokenizer's tests);
 * - chunking for worker threads: recordBoundaries.ts finds record ends in raw bytes by exactly these rules,
 *   so chunks of a file parse independently to the same records and lines as one pass;
 * - streaming: a small state machine over decoded text, fed chunk by chunk; memory is bounded by the
 *   longest record.
 * docs/architecture.md says the same for newcomers.
 *
 * Quote handling follows the CDM `CsvFormatSettings` vocabulary (Power Query `Csv.Document` semantics):
 * - `afterDelimiter` (CsvStyle.QuoteAfterDelimiter): a quote opens a quoted section only at the start of a
 *   field (leading blanks allowed, they are dropped); elsewhere it is a literal character.
 * - `always` (CsvStyle.QuoteAlways): a quote opens or closes a quoted section wherever it appears.
 * - `none` (QuoteStyle.None): quotes are ordinary characters and every line break ends a record.
 * In quoted sections `""` is a literal quote and line breaks belong to the value. Line breaks are `\r\n`,
 * `\n` or `\r`, mixed freely. Blank (whitespace-only) lines are skipped.
 */
import { InputFileError } from '../../errors';

/** How quotes are treated; see the module comment. */
export type QuoteMode = 'afterDelimiter' | 'always' | 'none';

/** The dialect of one CSV file. */
export interface CsvDialect {
  /** One or more characters between fields. */
  delimiter: string;
  quoteMode: QuoteMode;
}

/** Receives each record's fields and the physical line (1-based) where it starts. */
export type CsvRecordSink = (fields: string[], line: number) => void;

/** Character codes the CSV rules turn on (also the bytes `RecordBoundaryScanner` looks for). */
const QUOTE = 0x22;
const LF = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
const TAB = 0x09;
const NUL = 0x00;
// Local constants, exported here: see hash64.ts for why hot loops must not read `export const`s.
export { CR, LF, QUOTE, SPACE, TAB };

/** Splits decoded text into records; push chunks in order, then call `end`. */
export class CsvTokenizer {
  private pending = '';
  private line: number;
  private readonly delimiter: string;
  private readonly delimiterFirst: number;
  private readonly quoting: boolean;
  private readonly quoteAnywhere: boolean;

  constructor(
    private readonly file: string,
    dialect: CsvDialect,
    /** A record longer than this fails the file: it is almost always an unclosed quote or binary data. */
    private readonly maxRecordChars = 1_000_000,
    /** The physical line of the first character pushed (for a chunk that starts inside a file). */
    startLine = 1,
  ) {
    this.line = startLine;
    if (dialect.delimiter.length === 0) throw new InputFileError(file, 'the CSV delimiter is empty');
    this.delimiter = dialect.delimiter;
    this.delimiterFirst = dialect.delimiter.charCodeAt(0);
    this.quoting = dialect.quoteMode !== 'none';
    this.quoteAnywhere = dialect.quoteMode === 'always';
  }

  /** The line the tokenizer has reached (the start of the record it is waiting to complete). */
  get currentLine(): number {
    return this.line;
  }

  /** The physical line reached after the unfinished record plus `text` (to locate an error inside `text`). */
  lineAfter(text: string): number {
    const matches = (this.pending + text).match(/\r\n|\r|\n/g);
    return this.line + (matches ? matches.length : 0);
  }

  /** Parses every record completed by `text`; keeps the unfinished tail for the next call. */
  push(text: string, onRecord: CsvRecordSink): void {
    this.parse(this.pending.length === 0 ? text : this.pending + text, false, onRecord);
  }

  /** Parses what is left at the end of the input. */
  end(onRecord: CsvRecordSink): void {
    this.parse(this.pending, true, onRecord);
    this.pending = '';
  }

  private tooLong(line: number): never {
    throw new InputFileError(
      this.file,
      `a record is longer than ${this.maxRecordChars} characters (an unclosed quote, or not a CSV file)`,
      { line },
    );
  }

  /**
   * The state machine itself, one piece (~100 lines) on purpose: every character of every file passes through
   * this loop, and its state (position, line, field start, quoted or not) lives in locals the optimiser
   * keeps in registers; split into calls, that state would travel through fields or arguments per character.
   */
  private parse(s: string, final: boolean, onRecord: CsvRecordSink): void {
    const length = s.length;
    const { delimiter, delimiterFirst, quoting, quoteAnywhere } = this;
    const delimiterLength = delimiter.length;
    let pos = 0;
    let line = this.line;

    while (pos < length) {
      const recordStart = pos;
      const recordLine = line;
      const fields: string[] = [];
      let value = '';
      let segmentStart = pos;
      let fieldStart = pos;
      let inQuotes = false;
      let quoted = false;
      let i = pos;
      let complete = false;

      while (i < length) {
        const c = s.charCodeAt(i);
        if (c === NUL) {
          throw new InputFileError(this.file, 'contains binary data (a NUL character): not a CSV text file', {
            line,
          });
        }
        if (inQuotes) {
          if (c === QUOTE) {
            if (i + 1 >= length && !final) break;
            if (s.charCodeAt(i + 1) === QUOTE) {
              value += s.slice(segmentStart, i + 1);
              i += 2;
              segmentStart = i;
            } else {
              value += s.slice(segmentStart, i);
              inQuotes = false;
              i++;
              segmentStart = i;
            }
            continue;
          }
          if (c === LF) line++;
          else if (c === CR) {
            if (i + 1 >= length && !final) break;
            if (s.charCodeAt(i + 1) === LF) i++;
            line++;
          }
          i++;
          continue;
        }
        if (c === QUOTE && quoting && (quoteAnywhere || isBlank(s, fieldStart, i))) {
          // A quote after leading blanks still opens the field: those blanks are formatting, not data.
          value += quoteAnywhere ? s.slice(segmentStart, i) : '';
          inQuotes = true;
          quoted = true;
          i++;
          segmentStart = i;
          continue;
        }
        if (c === delimiterFirst) {
          if (delimiterLength === 1 || s.startsWith(delimiter, i)) {
            fields.push(value + s.slice(segmentStart, i));
            value = '';
            i += delimiterLength;
            segmentStart = i;
            fieldStart = i;
            continue;
          }
          if (i + delimiterLength > length && !final && delimiter.startsWith(s.slice(i))) break;
        }
        if (c === LF || c === CR) {
          if (c === CR && i + 1 >= length && !final) break;
          fields.push(value + s.slice(segmentStart, i));
          i += c === CR && s.charCodeAt(i + 1) === LF ? 2 : 1;
          line++;
          complete = true;
          break;
        }
        i++;
      }

      // Too long whether or not it is complete: the same answer however the text was cut into pushes.
      if (i - recordStart > this.maxRecordChars) this.tooLong(recordLine);
      if (!complete) {
        if (!final) {
          if (length - recordStart > this.maxRecordChars) this.tooLong(recordLine);
          this.pending = s.slice(recordStart);
          this.line = recordLine;
          return;
        }
        if (inQuotes) {
          throw new InputFileError(this.file, 'a quoted field is never closed before the end of the file', {
            line: recordLine,
          });
        }
        fields.push(value + s.slice(segmentStart, i));
      }
      pos = i;
      if (fields.length === 1 && !quoted && fields[0]!.trim() === '') continue;
      onRecord(fields, recordLine);
    }
    this.pending = '';
    this.line = line;
  }
}

function isBlank(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c !== SPACE && c !== TAB) return false;
  }
  return true;
}
