import { readFileSync } from 'node:fs';
import path from 'node:path';

import { describe, expect, it } from 'vitest';

import { csvFormatFor, parseCdmModel } from '../../../../shared/domain/segments/cdmModel';

const fixture = readFileSync(path.join(__dirname, '../../../fixtures/segments/model.json'), 'utf8');

describe('csvFormatFor', () => {
  const model = parseCdmModel(fixture, 'model.json');

  it('reads columns from the attributes when partitions have no header row', () => {
    const f = csvFormatFor(
      model,
      'model.json',
      'HighValue',
      'CustomerInsights_x/Export/HighValue/2024/05/01/0930/HighValue_1.csv',
    );
    expect(f).toEqual({
      dialect: { delimiter: ',', quoteMode: 'always' },
      columnHeaders: false,
      encoding: 'utf-8',
      columns: ['Email', 'FirstName', 'LastName', 'Phone'],
    });
  });

  it('honours delimiter, quote style and encoding per partition', () => {
    const f = csvFormatFor(
      model,
      'model.json',
      'churnrisk',
      'CustomerInsights_x/Export/ChurnRisk/2024/05/01/0930/ChurnRisk_2.csv',
    );
    expect(f).toEqual({
      dialect: { delimiter: ';', quoteMode: 'none' },
      columnHeaders: true,
      encoding: 'utf-16le',
    });
    const g = csvFormatFor(model, 'model.json', 'ChurnRisk', 'other.csv');
    expect(g.dialect.quoteMode).toBe('afterDelimiter');
    expect(g.encoding).toBe('windows-1252');
  });

  it('fails naming model.json when the segment has no entity or the file is not a model', () => {
    expect(() => csvFormatFor(model, 'x/model.json', 'Nope', 'a.csv')).toThrow(
      /x\/model\.json: has no entity for segment "Nope"/,
    );
    expect(() => parseCdmModel('{"entities": 3}', 'm.json')).toThrow(/m\.json: is not a CDM model\.json/);
    expect(() => parseCdmModel('\u0089PNG', 'm.json')).toThrow(/m\.json: is not valid JSON/);
  });
});
