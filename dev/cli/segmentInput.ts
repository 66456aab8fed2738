/**
 * The CLI's segment: a CSV (or `.csv.gz`) file, or a Customer Insights folder holding `model.json`. It is
 * checked locally before anything starts (readable, the mapped columns present), then put into segment
 * storage in the layout Prepare reads: `<segment>/<file>` (plain), or the folder under the
 * `CustomerInsights_<instance>/<Export>/` path its model.json's partition locations name.
 */
import { createReadStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { createGunzip } from 'node:zlib';

import type { ContainerClient } from '@azure/storage-blob';
import { parse } from 'csv-parse';

import { parseCdmModel } from '../../shared/domain/segments/cdmModel';
import { CliInputError } from './options';

/** A segment ready to upload. */
export interface SegmentInput {
  name: string;
  /** Blob name → local file. */
  files: Map<string, string>;
  /** Blob prefix the segment owns in segment storage (emptied before each upload). */
  prefix: string;
  layout: 'plain' | 'customerInsights';
}

const SEGMENT_NAME = /^[\p{L}\p{N}_ ()-][\p{L}\p{N}_ .()-]*$/u;

/** Checks `--segment` and the mapped columns; throws `CliInputError` naming the file or column. */
export async function inspectSegment(
  file: string,
  segmentName: string | undefined,
  columns: string[],
): Promise<SegmentInput> {
  const shown = path.relative(process.cwd(), file) || file;
  const info = await stat(file).catch((error: NodeJS.ErrnoException) => {
    throw new CliInputError(
      `Cannot read --segment ${shown}: ${error.code === 'ENOENT' ? 'no such file or folder' : error.message}`,
    );
  });
  const input = info.isDirectory()
    ? await inspectFolder(file, shown, segmentName, columns)
    : await inspectCsv(file, shown, segmentName, columns);
  if (input.name.length > 256 || !SEGMENT_NAME.test(input.name))
    throw new CliInputError(
      `The segment name "${input.name}" is not usable as a folder name (letters, digits, space, _ . ( ) -); pass --segment-name`,
    );
  return input;
}

async function inspectCsv(
  file: string,
  shown: string,
  segmentName: string | undefined,
  columns: string[],
): Promise<SegmentInput> {
  const base = path.basename(file);
  if (!/\.csv(\.gz)?$/i.test(base))
    throw new CliInputError(
      `--segment ${shown} must be a .csv or .csv.gz file, or a Customer Insights folder`,
    );
  const header = await readHeader(file, shown);
  const missing = missingColumns(columns, header);
  if (missing.length > 0)
    throw new CliInputError(
      `Column ${missing.map((c) => `"${c}"`).join(', ')} not found in ${shown} (its columns: ${header.join(', ')})`,
    );
  const name = segmentName ?? base.replace(/\.csv(\.gz)?$/i, '');
  return { name, files: new Map([[`${name}/${base}`, file]]), prefix: `${name}/`, layout: 'plain' };
}

/** The first record of a CSV (gzip recognised by content), or a `CliInputError` naming the file. */
async function readHeader(file: string, shown: string): Promise<string[]> {
  try {
    const head = await readFile(file).then((b) => b.subarray(0, 2));
    const source = createReadStream(file);
    const stream = head[0] === 0x1f && head[1] === 0x8b ? source.pipe(createGunzip()) : source;
    const parser = stream.pipe(parse({ bom: true, to_line: 1, relax_column_count: true, trim: true }));
    for await (const record of parser as AsyncIterable<string[]>) {
      source.destroy();
      return record;
    }
    throw new CliInputError(`${shown} is empty (a header row naming the columns is needed)`);
  } catch (error) {
    if (error instanceof CliInputError) throw error;
    throw new CliInputError(`Cannot read --segment ${shown}: ${(error as Error).message.split('\n')[0]}`);
  }
}

async function inspectFolder(
  folder: string,
  shown: string,
  segmentName: string | undefined,
  columns: string[],
): Promise<SegmentInput> {
  const modelFile = path.join(folder, 'model.json');
  const text = await readFile(modelFile, 'utf8').catch(() => {
    throw new CliInputError(
      `--segment ${shown} is a folder without a readable model.json (a Customer Insights export folder)`,
    );
  });
  let model;
  try {
    model = parseCdmModel(text, `${shown}/model.json`);
  } catch (error) {
    throw new CliInputError((error as Error).message);
  }
  const names = model.entities.map((e) => e.name);
  const entity = segmentName
    ? model.entities.find((e) => e.name.toLowerCase() === segmentName.toLowerCase())
    : model.entities.length === 1
      ? model.entities[0]
      : undefined;
  if (!entity)
    throw new CliInputError(
      segmentName
        ? `Segment "${segmentName}" is not in ${shown}/model.json (it has: ${names.join(', ')})`
        : `${shown}/model.json describes ${names.length} segments (${names.join(', ')}); pick one with --segment-name`,
    );
  const attributes = (entity.attributes ?? []).map((a) => a.name);
  const missing = missingColumns(columns, attributes);
  if (missing.length > 0)
    throw new CliInputError(
      `Column ${missing.map((c) => `"${c}"`).join(', ')} not found in segment ${entity.name} of ${shown}/model.json (its columns: ${attributes.join(', ')})`,
    );
  // Locations name `<account>/<container>/CustomerInsights_<instance>/<Export>/<path in the folder>`.
  let prefix: string | undefined;
  for (const partition of model.entities.flatMap((e) => e.partitions ?? [])) {
    const parts = locationParts(partition.location);
    if (!parts || parts.length < 4 || !/^CustomerInsights_/i.test(parts[0]!))
      throw new CliInputError(
        `${shown}/model.json: partition ${partition.name ?? '?'} has no location of the form .../<container>/CustomerInsights_<instance>/<Export>/...`,
      );
    prefix ??= `${parts[0]}/${parts[1]}/`;
  }
  if (!prefix) throw new CliInputError(`${shown}/model.json lists no partitions`);
  const files = new Map<string, string>([[`${prefix}model.json`, modelFile]]);
  for (const rel of await listFiles(folder)) {
    if (rel !== 'model.json') files.set(`${prefix}${rel}`, path.join(folder, ...rel.split('/')));
  }
  for (const partition of entity.partitions ?? []) {
    const rel = locationParts(partition.location)!.slice(2).join('/');
    if (!files.has(`${prefix}${rel}`))
      throw new CliInputError(`${shown}/model.json lists ${rel}, which is not in the folder`);
  }
  return { name: entity.name, files, prefix, layout: 'customerInsights' };
}

/** The location's path after the container, as segments. */
function locationParts(location: string | undefined): string[] | undefined {
  if (!location) return undefined;
  try {
    return decodeURIComponent(new URL(location).pathname).split('/').filter(Boolean).slice(1);
  } catch {
    return undefined;
  }
}

async function listFiles(folder: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(path.join(folder, rel), { withFileTypes: true })) {
    const child = rel ? `${rel}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...(await listFiles(folder, child)));
    else if (entry.isFile()) out.push(child);
  }
  return out.sort();
}

function missingColumns(wanted: string[], present: string[]): string[] {
  const have = new Set(present.map((c) => c.trim().toLowerCase()));
  return wanted.filter((c) => !have.has(c.trim().toLowerCase()));
}

/** Replaces what segment storage holds under the segment's prefix with its files. */
export async function uploadSegment(container: ContainerClient, input: SegmentInput): Promise<void> {
  await container.createIfNotExists();
  for await (const blob of container.listBlobsFlat({ prefix: input.prefix })) {
    if (!input.files.has(blob.name)) await container.deleteBlob(blob.name);
  }
  // model.json last: it marks the snapshot complete (its write is what Customer Insights does last).
  const order = [...input.files.keys()].sort(
    (a, b) => Number(a.endsWith('model.json')) - Number(b.endsWith('model.json')),
  );
  for (const name of order) {
    await container.getBlockBlobClient(name).uploadFile(input.files.get(name)!);
  }
}
