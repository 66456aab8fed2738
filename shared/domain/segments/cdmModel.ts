/**
 * The parts of a Customer Insights `model.json` (CDM "model.json" metadata format) the exporter reads:
 * each entity (one per segment) with its attributes (the columns, in order) and its partitions (the CSV
 * files) with their `fileFormatSettings`. Reference: learn.microsoft.com/common-data-model/model-json;
 * the CsvFormatSettings enums are `QuoteStyle.Csv | QuoteStyle.None` and
 * `CsvStyle.QuoteAlways | CsvStyle.QuoteAfterDelimiter` (defaults: Csv, QuoteAlways, no header row).
 */
import { z } from 'zod';

import { InputFileError } from '../../errors';
import type { CsvDialect } from './csvTokenizer';

const FileFormatSettings = z
  .looseObject({
    $type: z.string().optional(),
    columnHeaders: z
      .union([z.boolean(), z.enum(['true', 'false']).transform((v) => v === 'true')])
      .optional(),
    delimiter: z.string().min(1).max(8).optional(),
    quoteStyle: z.string().optional(),
    csvStyle: z.string().optional(),
    encoding: z.union([z.string(), z.number()]).optional(),
  })
  .optional();

const Partition = z.looseObject({
  name: z.string().optional(),
  location: z.string().optional(),
  fileFormatSettings: FileFormatSettings,
});

const Entity = z.looseObject({
  $type: z.string().optional(),
  name: z.string().min(1),
  attributes: z.array(z.looseObject({ name: z.string().min(1) })).default([]),
  partitions: z.array(Partition).default([]),
});

/** The subset of model.json we rely on. */
export const CdmModel = z.looseObject({
  name: z.string().optional(),
  entities: z.array(Entity).min(1),
});
export type CdmModel = z.infer<typeof CdmModel>;

/** Text encodings the reader decodes (WHATWG names). */
export type TextEncodingName = 'utf-8' | 'utf-16le' | 'utf-16be' | 'windows-1252';

/** How to read one CSV partition. */
export interface CsvFormat {
  dialect: CsvDialect;
  /** True when the first record is a header row. */
  columnHeaders: boolean;
  encoding: TextEncodingName;
  /** Column names when the file has no header row (from model.json attributes). */
  columns?: string[];
}

/** The plain layout's format: a header row, comma, RFC 4180 quoting, UTF-8 (a BOM overrides). */
export const PLAIN_CSV_FORMAT: CsvFormat = {
  dialect: { delimiter: ',', quoteMode: 'afterDelimiter' },
  columnHeaders: true,
  encoding: 'utf-8',
};

/** Parses model.json text; a malformed model fails with an `InputFileError` naming it. */
export function parseCdmModel(text: string, file: string): CdmModel {
  let json: unknown;
  try {
    json = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  } catch (error) {
    throw new InputFileError(file, 'is not valid JSON', { cause: error });
  }
  const parsed = CdmModel.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new InputFileError(file, `is not a CDM model.json: ${issues}`);
  }
  return parsed.data;
}

/** Maps a CDM/Windows encoding name or code page to a decoder name; unknown ones fail. */
export function toTextEncoding(value: string | number | undefined, file: string): TextEncodingName {
  if (value === undefined || value === '') return 'utf-8';
  const key = String(value).toLowerCase().replace(/[\s_]/g, '');
  switch (key) {
    case 'utf-8':
    case 'utf8':
    case '65001':
      return 'utf-8';
    case 'utf-16':
    case 'utf16':
    case 'utf-16le':
    case 'utf16le':
    case 'unicode':
    case '1200':
      return 'utf-16le';
    case 'utf-16be':
    case 'utf16be':
    case '1201':
      return 'utf-16be';
    case 'latin1':
    case 'latin-1':
    case 'iso-8859-1':
    case 'iso8859-1':
    case 'windows-1252':
    case 'cp1252':
    case '1252':
    case '28591':
      // WHATWG decodes every "latin1" label as windows-1252, a superset of ISO-8859-1's printable range.
      return 'windows-1252';
    default:
      throw new InputFileError(file, `unsupported text encoding ${JSON.stringify(value)} in model.json`);
  }
}

/**
 * The CSV format of the partition stored at `blobName` for `segment`: the partition whose location ends
 * with the blob's path, else the entity's first partition with settings; with none, an `InputFileError`.
 */
export function csvFormatFor(
  model: CdmModel,
  modelFile: string,
  segment: string,
  blobName: string,
): CsvFormat {
  const wanted = segment.toLowerCase();
  const entity = model.entities.find((e) => e.name.toLowerCase() === wanted);
  if (!entity) {
    const names = model.entities.map((e) => JSON.stringify(e.name)).join(', ');
    throw new InputFileError(modelFile, `has no entity for segment "${segment}" (entities: ${names})`);
  }
  const partition =
    entity.partitions.find(
      (p) => p.location !== undefined && locationPath(p.location).endsWith(`/${blobName}`),
    ) ?? entity.partitions.find((p) => p.fileFormatSettings !== undefined);
  if (!partition?.fileFormatSettings) {
    // Header row or not, delimiter and quoting decide every value read: never guessed from defaults.
    throw new InputFileError(
      modelFile,
      `gives no fileFormatSettings for ${blobName} (segment "${segment}"), so its CSV format cannot be determined`,
    );
  }
  const settings = partition.fileFormatSettings;
  const quoteNone = /none$/i.test(settings.quoteStyle ?? '');
  const afterDelimiter = /quoteafterdelimiter$/i.test(settings.csvStyle ?? '');
  const columnHeaders = settings.columnHeaders ?? false;
  const columns = entity.attributes.map((a) => a.name);
  if (!columnHeaders && columns.length === 0) {
    throw new InputFileError(
      modelFile,
      `entity "${entity.name}" has no attributes and its files no header row`,
    );
  }
  return {
    dialect: {
      delimiter: settings.delimiter ?? ',',
      quoteMode: quoteNone ? 'none' : afterDelimiter ? 'afterDelimiter' : 'always',
    },
    columnHeaders,
    encoding: toTextEncoding(settings.encoding, modelFile),
    ...(columnHeaders ? {} : { columns }),
  };
}

function locationPath(location: string): string {
  try {
    return decodeURIComponent(new URL(location).pathname);
  } catch {
    return location;
  }
}
