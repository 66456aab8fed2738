/**
 * Finds where records end in the raw bytes of a CSV file, without decoding or building any string, so a
 * file can be cut into chunks of whole records that are parsed independently (on several threads) with
 * exactly the records `CsvTokenizer` gives when it reads the whole file.
 *
 * It follows the tokenizer's rules: line breaks are `\r\n`, `\n` or `\r`; in quoted sections (opened per
 * the quote mode, see csvTokenizer.ts) line breaks belong to the value and `""` is a literal quote. It
 * works on bytes, so it is only for encodings in which the quote, the delimiter, CR and LF are single
 * bytes that never occur inside another character (UTF-8, windows-1252) and a single-byte ASCII delimiter:
 * `canScan` says when. It jumps from quote to quote with the native `indexOf`, so unquoted text costs
 * almost nothing.
 */
import type { TextEncodingName } from './cdmModel';
import type { CsvDialect } from './csvTokenizer';
import * as csvTokenizer from './csvTokenizer';

// Module-level copies of imported constants for the hot loops: see hash64.ts.
const { CR, LF, QUOTE, SPACE, TAB } = csvTokenizer;

const OUTSIDE = 0;
const INSIDE = 1;
/** Inside quotes, just after a quote: the next byte says whether it was `""` or the closing quote. */
const QUOTE_SEEN = 2;

/** True when `RecordBoundaryScanner` can cut files of this encoding and dialect. */
export function canScan(encoding: TextEncodingName, dialect: CsvDialect): boolean {
  const d = dialect.delimiter.charCodeAt(0);
  return (
    (encoding === 'utf-8' || encoding === 'windows-1252') &&
    dialect.delimiter.length === 1 &&
    d < 0x80 &&
    d !== QUOTE &&
    d !== LF &&
    d !== CR
  );
}

/** A dialect's rules as the scanners use them: the delimiter byte and when a quote opens a section. */
abstract class QuoteRules {
  protected readonly delimiter: number;
  protected readonly quoting: boolean;
  protected readonly quoteAnywhere: boolean;

  constructor(dialect: CsvDialect) {
    this.delimiter = dialect.delimiter.charCodeAt(0);
    this.quoting = dialect.quoteMode !== 'none';
    this.quoteAnywhere = dialect.quoteMode === 'always';
  }
}

/** Scans a file's bytes in order, across any number of calls. */
export class RecordBoundaryScanner extends QuoteRules {
  private state = OUTSIDE;
  /** Only spaces and tabs since the field started (a quote there opens a quoted section). */
  private blank = true;
  /** The last byte scanned was a CR outside quotes (a following LF belongs to the same line break). */
  private cr = false;

  /**
   * Scans `bytes[from, to)`, which continue the bytes scanned before, and returns the offset just after the
   * last record end in that range, or -1. A record end after a CR is only known once the next byte is seen
   * (it may be the LF of a CRLF), so it may be reported by the following call, at offset `from`.
   */
  scan(bytes: Uint8Array, from: number, to: number): number {
    let end = -1;
    if (this.cr && from < to) {
      this.cr = false;
      if (bytes[from] !== LF) end = from; // the record ended with a lone CR, just before this byte
    }
    // Unquoted stretches (start, stop pairs): only their line breaks end records.
    const stretches: number[] = [];
    let i = from;
    while (i < to) {
      if (this.state === QUOTE_SEEN) {
        if (bytes[i] === QUOTE) {
          // `""`: a literal quote; still inside.
          this.state = INSIDE;
          i++;
          continue;
        }
        this.state = OUTSIDE;
        this.blank = false;
      }
      if (this.state === INSIDE) {
        const q = bytes.indexOf(QUOTE, i);
        if (q === -1 || q >= to) break;
        this.state = QUOTE_SEEN;
        i = q + 1;
        continue;
      }
      let stop = this.quoting ? bytes.indexOf(QUOTE, i) : -1;
      if (stop === -1 || stop > to) stop = to;
      stretches.push(i, stop);
      this.blank = this.blankAt(bytes, i, stop);
      if (stop === to) break;
      // A quote: it opens a quoted section at the start of a field (after blanks), or anywhere in `always`.
      if (this.quoteAnywhere || this.blank) this.state = INSIDE;
      else this.blank = false;
      i = stop + 1;
    }
    // The last record end is after the last line break outside quotes.
    for (let k = stretches.length - 2; k >= 0; k -= 2) {
      const start = stretches[k]!;
      const last = lastBreak(bytes, start, stretches[k + 1]!);
      if (last === -1) continue;
      if (last < to - 1 || bytes[last] === LF) return last + 1;
      // A CR as the very last byte: its record end is known with the next byte. A break before it ends a
      // record (a CR there is followed by this CR or a plain byte, never by an LF).
      this.cr = true;
      const before = lastBreak(bytes, start, last);
      if (before !== -1) return before + 1;
    }
    return end;
  }

  /** Whether only spaces and tabs stand between the start of the current field and `at` (`from` ≤ at). */
  private blankAt(bytes: Uint8Array, from: number, at: number): boolean {
    for (let p = at - 1; p >= from; p--) {
      const c = bytes[p]!;
      // The delimiter first: it may itself be a tab or a space.
      if (c === this.delimiter || c === LF || c === CR) return true;
      if (c !== SPACE && c !== TAB) return false;
    }
    // Only blanks since `from`: the state there holds.
    return this.blank;
  }
}

/** The offset of the last CR or LF in `bytes[from, to)`, or -1. */
function lastBreak(bytes: Uint8Array, from: number, to: number): number {
  if (to <= from) return -1;
  const view = bytes.subarray(from, to);
  const last = Math.max(view.lastIndexOf(LF), view.lastIndexOf(CR));
  return last === -1 ? -1 : from + last;
}

/**
 * Finds where the record starting at the first byte it is given ends, resuming where it stopped when the
 * bytes grow (each byte is looked at about once, however the record arrives).
 */
export class FirstRecordScanner extends QuoteRules {
  private inside = false;
  private blank = true;
  /** Bytes of the record looked at so far. */
  private scanned = 0;

  /**
   * The offset just after the record that starts at `from`, or -1 when it does not end within
   * `bytes[from, to)`. Call again with the same record start (maybe in a new, longer buffer) to go on.
   */
  scan(bytes: Uint8Array, from: number, to: number): number {
    let { inside, blank } = this;
    let i = from + this.scanned;
    for (; i < to; i++) {
      const c = bytes[i]!;
      if (inside) {
        if (c !== QUOTE) continue;
        if (i + 1 >= to) break; // `""` or the closing quote: the next byte tells
        if (bytes[i + 1] === QUOTE) i++;
        else {
          inside = false;
          blank = false;
        }
        continue;
      }
      if (c === LF) return this.found(i + 1);
      if (c === CR) {
        if (i + 1 >= to) break;
        return this.found(bytes[i + 1] === LF ? i + 2 : i + 1);
      }
      if (c === QUOTE) {
        if (this.quoting && (this.quoteAnywhere || blank)) inside = true;
        else blank = false;
      } else if (c === this.delimiter) blank = true;
      else if (c !== SPACE && c !== TAB) blank = false;
    }
    this.inside = inside;
    this.blank = blank;
    this.scanned = i - from;
    return -1;
  }

  private found(end: number): number {
    this.inside = false;
    this.blank = true;
    this.scanned = 0;
    return end;
  }
}
