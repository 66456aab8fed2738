import { describe, expect, it } from 'vitest';

import { type CsvDialect, CsvTokenizer } from '../../../../shared/domain/segments/csvTokenizer';
import { InputFileError } from '../../../../shared/errors';

const comma: CsvDialect = { delimiter: ',', quoteMode: 'afterDelimiter' };

function tokenize(text: string | string[], dialect: CsvDialect = comma): [string[], number][] {
  const out: [string[], number][] = [];
  const t = new CsvTokenizer('f.csv', dialect);
  for (const chunk of typeof text === 'string' ? [text] : text) t.push(chunk, (f, l) => out.push([f, l]));
  t.end((f, l) => out.push([f, l]));
  return out;
}

describe('CsvTokenizer', () => {
  it('reports the physical start line when records contain quoted newlines and line endings are mixed', () => {
    const text = 'h1,h2\r\n\r\n1,"x\r\ny"\r\n2,3\n\n"4","5"\r7,"a\nb\rc"\n8,9';
    expect(tokenize(text)).toEqual([
      [['h1', 'h2'], 1],
      [['1', 'x\r\ny'], 3],
      [['2', '3'], 5],
      [['4', '5'], 7],
      [['7', 'a\nb\rc'], 8],
      [['8', '9'], 11],
    ]);
  });

  it('gives the same records whatever the chunk boundaries are', () => {
    const text = 'a;;b\r\n"q""uote";;"x;;y\r\nz"\r\n\r\n  \r\nlast;;row\r';
    const dialect: CsvDialect = { delimiter: ';;', quoteMode: 'afterDelimiter' };
    const whole = tokenize(text, dialect);
    expect(whole).toEqual([
      [['a', 'b'], 1],
      [['q"uote', 'x;;y\r\nz'], 2],
      [['last', 'row'], 6],
    ]);
    for (let size = 1; size <= 7; size++) {
      const chunks: string[] = [];
      for (let i = 0; i < text.length; i += size) chunks.push(text.slice(i, i + size));
      expect(tokenize(chunks, dialect)).toEqual(whole);
    }
  });

  it('keeps quotes inside an unquoted field literal when the style is QuoteAfterDelimiter', () => {
    expect(tokenize('5" screen,ok\n  "x, y"  ,z\n')).toEqual([
      [['5" screen', 'ok'], 1],
      [['x, y  ', 'z'], 2],
    ]);
  });

  it('treats every quote as significant when the style is QuoteAlways', () => {
    expect(tokenize('a"b,c"d,e\n', { delimiter: ',', quoteMode: 'always' })).toEqual([[['ab,cd', 'e'], 1]]);
  });

  it('ignores quotes entirely when quoting is off', () => {
    expect(tokenize('"a,b"\tc\n', { delimiter: '\t', quoteMode: 'none' })).toEqual([[['"a,b"', 'c'], 1]]);
  });

  it('fails naming the file and line when binary data (NUL) appears', () => {
    const run = () => tokenize('a,b\nc,d\x00\x01\n');
    expect(run).toThrow(InputFileError);
    expect(run).toThrow(/f\.csv:2: contains binary data/);
  });

  it('fails naming the start line when a quoted field is never closed', () => {
    expect(() => tokenize('a,b\n1,"open\n2,3\n')).toThrow(/f\.csv:2: a quoted field is never closed/);
  });

  it('fails when one record grows beyond the record size limit', () => {
    const t = new CsvTokenizer('big.csv', comma, 100);
    expect(() => t.push(`"${'x'.repeat(200)}`, () => undefined)).toThrow(
      /big\.csv:1: a record is longer than 100/,
    );
  });
});
