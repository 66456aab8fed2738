import { describe, expect, it } from 'vitest';

import {
  type CsvDialect,
  CsvTokenizer,
  type QuoteMode,
} from '../../../../shared/domain/segments/csvTokenizer';
import {
  canScan,
  FirstRecordScanner,
  RecordBoundaryScanner,
} from '../../../../shared/domain/segments/recordBoundaries';
import { InputFileError } from '../../../../shared/errors';

/** A small deterministic generator (tests must not flake). */
function random(seed: number) {
  let s = seed >>> 0;
  return (n: number) => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return (s >>> 8) % n;
  };
}

/** Messy CSV text: quotes where they open and where they are literal, `""`, quoted line breaks, mixed breaks. */
function messyCsv(seed: number, records: number, delimiter: string, literalQuotes: boolean): string {
  const pick = random(seed);
  const pieces = ['a', 'bc', ' ', '\t', 'ü', 'Zoë', '😀', '"', '""', delimiter, 'x"y'];
  const breaks = ['\n', '\r\n', '\r'];
  let text = '';
  for (let r = 0; r < records; r++) {
    if (pick(10) === 0)
      text += pick(2) ? '' : '  '; // blank (or whitespace-only) lines
    else {
      const fields = 1 + pick(4);
      for (let f = 0; f < fields; f++) {
        if (f) text += delimiter;
        const lead = pick(4) === 0 ? ' ' : '';
        if (pick(3) === 0) {
          // A quoted field, with quoted delimiters, escaped quotes and line breaks inside.
          let inner = '';
          for (let k = pick(5); k > 0; k--) {
            const p = pick(6);
            inner += p === 0 ? '""' : p === 1 ? breaks[pick(3)]! : p === 2 ? delimiter : pieces[pick(7)]!;
          }
          text += `${lead}"${inner}"${literalQuotes && pick(5) === 0 ? 'tail"' : ''}`;
        } else {
          for (let k = pick(4); k > 0; k--) {
            const p = pieces[pick(pieces.length)]!;
            text += p === delimiter || p === '"' || p === '""' || (!literalQuotes && p === 'x"y') ? 'q' : p;
          }
          if (literalQuotes && pick(6) === 0) text += 'in"side'; // a literal quote inside an unquoted field
        }
      }
    }
    text += breaks[pick(3)]!;
  }
  return text;
}

interface Rec {
  fields: string[];
  line: number;
}

/** The records, or the error (with its file line) and the records before it. */
function tokenizeWhole(text: string, dialect: CsvDialect): { records: Rec[]; error?: string } {
  const records: Rec[] = [];
  const t = new CsvTokenizer('f.csv', dialect);
  try {
    t.push(text, (fields, line) => records.push({ fields, line }));
    t.end((fields, line) => records.push({ fields, line }));
  } catch (error) {
    return { records, error: (error as Error).message };
  }
  return { records };
}

/**
 * What Prepare does in chunks mode: scan the bytes part by part, cut after the last record end once at
 * least `chunkBytes` are pending, tokenize each chunk on its own and continue the line count.
 */
function tokenizeChunked(
  bytes: Uint8Array,
  dialect: CsvDialect,
  partSizes: () => number,
  chunkBytes: number,
): { records: Rec[]; error?: string } {
  const scanner = new RecordBoundaryScanner(dialect);
  const chunks: Uint8Array[] = [];
  let pending: number[] = [];
  let cut = 0;
  for (let at = 0; at < bytes.length;) {
    const size = Math.min(bytes.length - at, partSizes());
    const part = bytes.subarray(at, at + size);
    const end = scanner.scan(part, 0, part.length);
    if (end !== -1) cut = pending.length + end;
    for (const b of part) pending.push(b);
    at += size;
    if (cut >= chunkBytes) {
      chunks.push(Uint8Array.from(pending.slice(0, cut)));
      pending = pending.slice(cut);
      cut = 0;
    }
  }
  if (pending.length) chunks.push(Uint8Array.from(pending));
  const records: Rec[] = [];
  let line = 1;
  for (const chunk of chunks) {
    const t = new CsvTokenizer('f.csv', dialect);
    const text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(chunk);
    const push = (fields: string[], local: number) => records.push({ fields, line: line + local - 1 });
    try {
      t.push(text, push);
      t.end(push);
    } catch (error) {
      const { file, line: local, detail } = error as InputFileError;
      return { records, error: new InputFileError(file, detail, { line: line + local! - 1 }).message };
    }
    line += t.currentLine - 1;
  }
  return { records };
}

describe('RecordBoundaryScanner', () => {
  const modes: QuoteMode[] = ['afterDelimiter', 'always', 'none'];
  it.each(modes.flatMap((quoteMode) => [',', ';', '\t', ' '].map((delimiter) => ({ quoteMode, delimiter }))))(
    'cuts messy CSV ($quoteMode, $delimiter) only at record ends: chunks parse to the records and lines of the whole file',
    ({ quoteMode, delimiter }) => {
      const dialect: CsvDialect = { delimiter, quoteMode };
      let wellFormed = 0;
      for (let seed = 1; seed <= 40; seed++) {
        // `always` has no literal quotes: any quote opens a quoted section there.
        const text = messyCsv(seed, 60, delimiter, quoteMode !== 'always');
        const whole = tokenizeWhole(text, dialect);
        const bytes = new TextEncoder().encode(text);
        const pick = random(seed * 7);
        // Parts from 1 byte (every CR/LF and quote lands on a part edge sometime) to 97 bytes; chunks of 1+.
        const chunked = tokenizeChunked(bytes, dialect, () => 1 + pick(97), 1 + pick(120));
        expect(chunked).toEqual(whole);
        if (!whole.error) wellFormed++;
      }
      // Most files are well formed; the others (an unclosed quote) must fail alike, on the same line.
      expect(wellFormed).toBeGreaterThan(20);
    },
  );

  it('reports a record that ends with a lone CR only once the next byte shows it is not a CRLF', () => {
    const scanner = new RecordBoundaryScanner({ delimiter: ',', quoteMode: 'afterDelimiter' });
    const bytes = new TextEncoder().encode('a,b\rc,d\r\ne');
    expect(scanner.scan(bytes, 0, 4)).toBe(-1); // 'a,b\r': the CR might start a CRLF
    expect(scanner.scan(bytes, 4, 8)).toBe(4); // 'c,d\r': so the first record ended at 4; this CR is open again
    expect(scanner.scan(bytes, 8, 9)).toBe(9); // '\n' completes the CRLF
    expect(scanner.scan(bytes, 9, 10)).toBe(-1);
  });

  it('never cuts inside a quoted section, even when it holds line breaks and escaped quotes', () => {
    const dialect: CsvDialect = { delimiter: ',', quoteMode: 'afterDelimiter' };
    const bytes = new TextEncoder().encode('a,"x\n""y\r\n"\nb,c');
    const scanner = new RecordBoundaryScanner(dialect);
    expect(scanner.scan(bytes, 0, 10)).toBe(-1);
    expect(scanner.scan(bytes, 10, bytes.length)).toBe(12);
  });

  it('finds the end of the first record (the header) even when a quoted header name holds a line break', () => {
    const dialect: CsvDialect = { delimiter: ',', quoteMode: 'afterDelimiter' };
    const bytes = new TextEncoder().encode('"e\nmail",name\r\na,b\n');
    expect(new FirstRecordScanner(dialect).scan(bytes, 0, bytes.length)).toBe(15);
    const scanner = new FirstRecordScanner(dialect);
    expect(scanner.scan(bytes, 0, 14)).toBe(-1); // ends in the CR: the next byte decides
    expect(scanner.scan(bytes, 0, bytes.length)).toBe(15); // resumed with more bytes
    expect(new FirstRecordScanner(dialect).scan(bytes, 15, bytes.length)).toBe(bytes.length);
  });

  it('is only used for encodings and delimiters whose bytes cannot hide a quote or line break', () => {
    expect(canScan('utf-8', { delimiter: ',', quoteMode: 'afterDelimiter' })).toBe(true);
    expect(canScan('windows-1252', { delimiter: '\t', quoteMode: 'none' })).toBe(true);
    expect(canScan('utf-16le', { delimiter: ',', quoteMode: 'afterDelimiter' })).toBe(false);
    expect(canScan('utf-8', { delimiter: '||', quoteMode: 'afterDelimiter' })).toBe(false);
    expect(canScan('utf-8', { delimiter: '§', quoteMode: 'afterDelimiter' })).toBe(false);
  });
});
