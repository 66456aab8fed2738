/**
 * Deterministic segment fixtures: seeded rows with realistic (and Unicode) names and a configurable share of
 * invalid, duplicate and missing emails, written to Azurite in either layout (README, "Segment input"), plain or gzipped,
 * streamed so a 1,000,000-row file never sits in memory. Plain functions; used by tests and bench/.
 */
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';

import type { ContainerClient } from '@azure/storage-blob';

const FIRST = [
  'Anna',
  'José',
  'Zoë',
  'Łukasz',
  'Søren',
  'Amélie',
  'Jürgen',
  'Siobhán',
  'Ngọc',
  '李',
  'Ольга',
  'Mary-Jane',
  'Noah',
  'Fatma',
  'Björn',
  'Chloé',
  'Đorđe',
  'Aiyana',
  "O'Neil",
  'Renée',
];
const LAST = [
  'Müller',
  'García',
  "O'Brien",
  'Nguyễn',
  'Kowalski',
  'Smith, Jr.',
  'Øster',
  'van der Berg',
  '王',
  'Иванова',
  'Dubois',
  'Rossi',
  'Yılmaz',
  'Papadopoulos',
  'Lefèvre',
  'Hernández',
  'Kim',
  'Schröder',
  'Doe "JD"',
  'Ng',
];
const DOMAINS = ['example.com', 'example.org', 'mail.example.net', 'exämple.de', 'example.co.uk'];
const INVALID = [
  'no-at-sign.example.com',
  '@example.com',
  'a@b',
  'two@@example.com',
  'semi;colon@example.com',
  'x@example.c',
  'spa ce@example.com',
  'a@example..com',
  '(paren)@example.com',
];

/** Kinds of generated rows. */
export type FixtureKind = 'valid' | 'invalid' | 'duplicate' | 'missing';

/** How to generate rows. Shares are fractions of all rows (0..1). */
export interface FixtureOptions {
  rows: number;
  seed?: number;
  invalidShare?: number;
  duplicateShare?: number;
  missingShare?: number;
  /** Offset of the first row's index: lets several files hold disjoint people. */
  firstIndex?: number;
  /** Appended to every generated first name: changes content without changing emails. */
  nameSuffix?: string;
}

/** One generated row. */
export interface FixtureRow {
  index: number;
  kind: FixtureKind;
  email: string;
  firstName: string;
  lastName: string;
  phone: string;
  city: string;
}

/** Counts of what a generator produced. */
export type FixtureStats = Record<FixtureKind, number> & { rows: number };

/** Small seeded PRNG value in [0, 1) for (seed, index, salt): stateless, so any row can be recomputed. */
function random(seed: number, index: number, salt: number): number {
  let t = (Math.imul(index, 0x9e3779b1) ^ Math.imul(seed + salt, 0x85ebca6b)) >>> 0;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

/** The kind of row `index` (stateless). */
export function fixtureKind(options: FixtureOptions, index: number): FixtureKind {
  const r = random(options.seed ?? 1, index, 1);
  const invalid = options.invalidShare ?? 0;
  const duplicate = options.duplicateShare ?? 0;
  const missing = options.missingShare ?? 0;
  if (r < invalid) return 'invalid';
  if (r < invalid + missing) return 'missing';
  if (r < invalid + missing + duplicate && index > (options.firstIndex ?? 0)) return 'duplicate';
  return 'valid';
}

/** The canonical (lower-case) email of person `index`. */
export function fixtureEmail(index: number, seed = 1): string {
  const domain = DOMAINS[Math.floor(random(seed, index, 2) * DOMAINS.length)]!;
  return `person${index}@${domain}`;
}

/** One row (stateless: any row can be recomputed from its index). */
export function fixtureRow(options: FixtureOptions, index: number): FixtureRow {
  const seed = options.seed ?? 1;
  const kind = fixtureKind(options, index);
  const first = FIRST[Math.floor(random(seed, index, 3) * FIRST.length)]! + (options.nameSuffix ?? '');
  const last = LAST[Math.floor(random(seed, index, 4) * LAST.length)]!;
  const phone = `+1 555 ${String(Math.floor(random(seed, index, 5) * 10_000_000)).padStart(7, '0')}`;
  let email: string;
  switch (kind) {
    case 'invalid':
      email = INVALID[index % INVALID.length]!;
      break;
    case 'missing':
      email = '';
      break;
    case 'duplicate': {
      // An earlier valid person, written with different case and stray whitespace.
      const from = options.firstIndex ?? 0;
      let j = from + Math.floor(random(seed, index, 6) * (index - from));
      while (j > from && fixtureKind(options, j) !== 'valid') j--;
      email =
        fixtureKind(options, j) === 'valid'
          ? `  ${fixtureEmail(j, seed).toUpperCase()} `
          : fixtureEmail(index, seed);
      break;
    }
    default:
      email =
        index % 7 === 0
          ? ` ${fixtureEmail(index, seed).replace('person', 'Person')}`
          : fixtureEmail(index, seed);
  }
  return {
    index,
    kind,
    email,
    firstName: first,
    lastName: last,
    phone,
    city: index % 3 ? 'Zürich' : 'Kraków',
  };
}

/** Generates rows lazily and counts them into `stats`. */
export function* fixtureRows(options: FixtureOptions, stats?: FixtureStats): Generator<FixtureRow> {
  const from = options.firstIndex ?? 0;
  for (let i = from; i < from + options.rows; i++) {
    const row = fixtureRow(options, i);
    if (stats) {
      stats.rows++;
      stats[row.kind]++;
    }
    yield row;
  }
}

/** Empty stats to pass to `fixtureRows`. */
export function emptyStats(): FixtureStats {
  return { rows: 0, valid: 0, invalid: 0, duplicate: 0, missing: 0 };
}

/** The column names the generator writes, in order. */
export const FIXTURE_COLUMNS = ['Email', 'FirstName', 'LastName', 'Phone', 'City'];

/** How to write CSV text. */
export interface CsvWriteOptions {
  header?: boolean;
  delimiter?: string;
  /** Quote every field (CsvStyle.QuoteAlways writers do); otherwise only when needed. */
  quoteAll?: boolean;
  /** No quoting at all (QuoteStyle.None): fields must not contain delimiters or newlines. */
  noQuotes?: boolean;
  lineEnding?: '\n' | '\r\n';
  encoding?: 'utf-8' | 'utf-16le' | 'latin1';
  bom?: boolean;
  gzip?: boolean;
}

/** One CSV line for `fields`. */
export function csvLine(fields: readonly string[], options: CsvWriteOptions = {}): string {
  const delimiter = options.delimiter ?? ',';
  const cells = fields.map((f) => {
    if (options.noQuotes) return f;
    const needs = options.quoteAll || f.includes(delimiter) || /["\r\n]/.test(f);
    return needs ? `"${f.replace(/"/g, '""')}"` : f;
  });
  return cells.join(delimiter) + (options.lineEnding ?? '\r\n');
}

/** CSV text chunks for rows (header first when asked); lines are batched to keep chunk count low. */
export function* csvChunks(rows: Iterable<FixtureRow>, options: CsvWriteOptions = {}): Generator<string> {
  let chunk = options.header === false ? '' : csvLine(FIXTURE_COLUMNS, options);
  for (const r of rows) {
    const fields = [r.email, r.firstName, r.lastName, r.phone, r.city];
    chunk += csvLine(options.noQuotes ? fields.map((f) => f.replace(/[,;\t"]/g, ' ')) : fields, options);
    if (chunk.length > 256 * 1024) {
      yield chunk;
      chunk = '';
    }
  }
  if (chunk) yield chunk;
}

/** Streams text chunks (or raw bytes) into a block blob, encoded and optionally gzipped. */
export async function uploadText(
  container: ContainerClient,
  blobName: string,
  chunks: Iterable<string | Uint8Array> | AsyncIterable<string | Uint8Array>,
  options: Pick<CsvWriteOptions, 'encoding' | 'bom' | 'gzip'> = {},
): Promise<void> {
  const encoding = options.encoding ?? 'utf-8';
  async function* bytes(): AsyncGenerator<Buffer> {
    if (options.bom)
      yield encoding === 'utf-16le' ? Buffer.from([0xff, 0xfe]) : Buffer.from([0xef, 0xbb, 0xbf]);
    for await (const c of chunks)
      yield typeof c === 'string' ? Buffer.from(c, encoding === 'utf-8' ? 'utf8' : encoding) : Buffer.from(c);
  }
  const body = new PassThrough();
  const upload = container.getBlockBlobClient(blobName).uploadStream(body, 4 * 1024 * 1024, 4);
  await Promise.all([
    options.gzip
      ? pipeline(Readable.from(bytes()), createGzip({ level: 1 }), body)
      : pipeline(Readable.from(bytes()), body),
    upload,
  ]);
}

/** Writes generated rows as a plain-layout segment: `<segment>/part-00001.csv[.gz]` … */
export async function writePlainSegment(
  container: ContainerClient,
  segment: string,
  parts: FixtureOptions[],
  options: CsvWriteOptions = {},
): Promise<{ blobs: string[]; stats: FixtureStats }> {
  const stats = emptyStats();
  const blobs: string[] = [];
  for (let p = 0; p < parts.length; p++) {
    const blobName = `${segment}/part-${String(p + 1).padStart(5, '0')}.csv${options.gzip ? '.gz' : ''}`;
    await uploadText(container, blobName, csvChunks(fixtureRows(parts[p]!, stats), options), options);
    blobs.push(blobName);
  }
  return { blobs, stats };
}

/** CDM CsvFormatSettings as Customer Insights writes them into model.json. */
export interface CdmFormat {
  columnHeaders?: boolean;
  delimiter?: string;
  quoteStyle?: 'QuoteStyle.Csv' | 'QuoteStyle.None';
  csvStyle?: 'CsvStyle.QuoteAlways' | 'CsvStyle.QuoteAfterDelimiter';
  encoding?: string;
}

/** A model.json for segments with the fixture columns, one partition entry per blob. */
export function cdmModelJson(
  accountUrl: string,
  entities: { segment: string; blobs: string[]; format: CdmFormat; columns?: string[] }[],
): string {
  return JSON.stringify(
    {
      name: 'ActiveCampaignExport',
      version: '1.0',
      entities: entities.map((e) => ({
        $type: 'LocalEntity',
        name: e.segment,
        attributes: (e.columns ?? FIXTURE_COLUMNS).map((name) => ({ name, dataType: 'string' })),
        partitions: e.blobs.map((b) => ({
          name: b
            .split('/')
            .pop()!
            .replace(/\.csv$/, ''),
          location: `${accountUrl}/${b.split('/').map(encodeURIComponent).join('/')}`,
          fileFormatSettings: { $type: 'CsvFormatSettings', ...e.format },
        })),
      })),
    },
    null,
    2,
  );
}

/** Writes a Customer Insights-layout segment snapshot (partitions + model.json). */
export async function writeCustomerInsightsSegment(
  container: ContainerClient,
  input: {
    instance?: string;
    exportName?: string;
    segment: string;
    /** `yyyy/MM/dd/HHmm` */
    timestamp: string;
    parts: FixtureOptions[];
    format?: CdmFormat;
    /** Write model.json (default true). */
    model?: boolean;
  },
): Promise<{ blobs: string[]; stats: FixtureStats; modelBlob: string }> {
  const format: CdmFormat = {
    columnHeaders: false,
    delimiter: ',',
    quoteStyle: 'QuoteStyle.Csv',
    csvStyle: 'CsvStyle.QuoteAlways',
    encoding: 'UTF-8',
    ...input.format,
  };
  const root = `CustomerInsights_${input.instance ?? 'contoso'}/${input.exportName ?? 'ActiveCampaignExport'}`;
  const stats = emptyStats();
  const blobs: string[] = [];
  const encoding = /16/.test(format.encoding ?? '')
    ? 'utf-16le'
    : /1252|8859|latin/i.test(format.encoding ?? '')
      ? 'latin1'
      : 'utf-8';
  for (let p = 0; p < input.parts.length; p++) {
    const blobName = `${root}/${input.segment}/${input.timestamp}/${input.segment}_${p + 1}.csv`;
    const options: CsvWriteOptions = {
      header: format.columnHeaders ?? false,
      delimiter: format.delimiter ?? ',',
      quoteAll: format.csvStyle !== 'CsvStyle.QuoteAfterDelimiter',
      noQuotes: format.quoteStyle === 'QuoteStyle.None',
      encoding,
    };
    await uploadText(container, blobName, csvChunks(fixtureRows(input.parts[p]!, stats), options), options);
    blobs.push(blobName);
  }
  const modelBlob = `${root}/model.json`;
  if (input.model !== false) {
    await uploadText(container, modelBlob, [
      cdmModelJson(container.url, [{ segment: input.segment, blobs, format }]),
    ]);
  }
  return { blobs, stats, modelBlob };
}
