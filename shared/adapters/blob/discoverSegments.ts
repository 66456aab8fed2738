/**
 * Finds the newest snapshot of each segment in the segment container, in either layout (design §5):
 * - Customer Insights: CustomerInsights_<instance>/<ExportName>/<Segment>/<yyyy>/<MM>/<dd>/<HHmm>/<Segment>_<n>.csv
 *   with model.json at the <ExportName> level (columns and each partition's CSV format);
 * - plain: <Segment>/**\/*.csv or *.csv.gz, each with a header row.
 * Folder names match segment names case-insensitively. Partitions are ordered by name, numbers compared
 * numerically (Segment_2 before Segment_10).
 */
import type { ContainerClient } from '@azure/storage-blob';

import {
  type CdmModel,
  type CsvFormat,
  csvFormatFor,
  parseCdmModel,
  PLAIN_CSV_FORMAT,
} from '../../domain/segments/cdmModel';
import { InputFileError, NotFoundError } from '../../errors';

/** Which folder layout a segment was found in. */
export type SegmentLayout = 'customerInsights' | 'plain';

/** One CSV file of a segment snapshot. */
export interface SegmentPartition {
  blobName: string;
  format: CsvFormat;
}

/** A segment's newest snapshot. */
export interface DiscoveredSegment {
  name: string;
  layout: SegmentLayout;
  /** The timestamp folder (`yyyy/MM/dd/HHmm`) for Customer Insights, undefined for plain. */
  snapshotFolder: string | undefined;
  partitions: SegmentPartition[];
}

const CI_PREFIX = 'customerinsights_';
const CSV_FILE = /\.csv(\.gz)?$/i;
const byName = new Intl.Collator('en', { numeric: true, sensitivity: 'variant' }).compare;

/** Finds each segment's newest snapshot; `layout` restricts the search (default: Customer Insights, then plain). */
export async function discoverSegments(
  container: ContainerClient,
  segments: readonly string[],
  layout: 'auto' | SegmentLayout = 'auto',
): Promise<DiscoveredSegment[]> {
  const root = await listLevel(container, '');
  const models = new Map<string, Promise<CdmModel>>();
  const result: DiscoveredSegment[] = [];
  for (const segment of segments) {
    const found =
      (layout !== 'plain'
        ? await findCustomerInsights(container, root.prefixes, segment, models)
        : undefined) ??
      (layout !== 'customerInsights' ? await findPlain(container, root.prefixes, segment) : undefined);
    if (!found) {
      throw new NotFoundError(
        `Segment "${segment}" has no CSV files in container "${container.containerName}" ` +
          `(looked for ${layout === 'plain' ? '' : `CustomerInsights_*/<export>/${segment}/yyyy/MM/dd/HHmm/*.csv`}` +
          `${layout === 'auto' ? ' and ' : ''}${layout === 'customerInsights' ? '' : `${segment}/**/*.csv[.gz]`})`,
      );
    }
    result.push(found);
  }
  return result;
}

async function findCustomerInsights(
  container: ContainerClient,
  rootPrefixes: string[],
  segment: string,
  models: Map<string, Promise<CdmModel>>,
): Promise<DiscoveredSegment | undefined> {
  const wanted = `${segment.toLowerCase()}/`;
  let best: { exportFolder: string; stamp: string; folder: string; blobs: string[] } | undefined;
  for (const instance of rootPrefixes.filter((p) => p.toLowerCase().startsWith(CI_PREFIX))) {
    for (const exportFolder of (await listLevel(container, instance)).prefixes) {
      const segmentFolders = (await listLevel(container, exportFolder)).prefixes.filter(
        (p) => p.slice(exportFolder.length).toLowerCase() === wanted,
      );
      for (const segmentFolder of segmentFolders) {
        const newest = await newestTimestampFolder(container, segmentFolder, 4);
        if (!newest) continue;
        const stamp = newest.folder.slice(segmentFolder.length);
        if (!best || stamp > best.stamp) best = { exportFolder, stamp, ...newest };
      }
    }
  }
  if (!best) return undefined;
  const modelFile = `${best.exportFolder}model.json`;
  let model = models.get(modelFile);
  if (!model) {
    model = loadModel(container, modelFile);
    models.set(modelFile, model);
  }
  const resolved = await model;
  return {
    name: segment,
    layout: 'customerInsights',
    snapshotFolder: best.stamp.replace(/\/$/, ''),
    partitions: best.blobs.map((blobName) => ({
      blobName,
      format: csvFormatFor(resolved, modelFile, segment, blobName),
    })),
  };
}

/** Descends `depth` levels of numeric folders, newest first, to the first leaf holding CSV files. */
async function newestTimestampFolder(
  container: ContainerClient,
  prefix: string,
  depth: number,
): Promise<{ folder: string; blobs: string[] } | undefined> {
  const level = await listLevel(container, prefix);
  if (depth === 0) {
    const blobs = level.blobs.filter((b) => CSV_FILE.test(b)).sort(byName);
    return blobs.length ? { folder: prefix, blobs } : undefined;
  }
  const numeric = level.prefixes
    .filter((p) => /^\d+\/$/.test(p.slice(prefix.length)))
    .sort((a, b) => Number(b.slice(prefix.length, -1)) - Number(a.slice(prefix.length, -1)));
  for (const child of numeric) {
    const found = await newestTimestampFolder(container, child, depth - 1);
    if (found) return found;
  }
  return undefined;
}

async function findPlain(
  container: ContainerClient,
  rootPrefixes: string[],
  segment: string,
): Promise<DiscoveredSegment | undefined> {
  const wanted = `${segment.toLowerCase()}/`;
  const folders = rootPrefixes.filter((p) => p.toLowerCase() === wanted);
  // An exact-case folder wins; otherwise a single case-insensitive match.
  const folder = folders.find((p) => p === `${segment}/`) ?? (folders.length === 1 ? folders[0] : undefined);
  if (!folder) return undefined;
  const blobs: string[] = [];
  for await (const blob of container.listBlobsFlat({ prefix: folder })) {
    if (CSV_FILE.test(blob.name)) blobs.push(blob.name);
  }
  if (!blobs.length) return undefined;
  return {
    name: segment,
    layout: 'plain',
    snapshotFolder: undefined,
    partitions: blobs.sort(byName).map((blobName) => ({ blobName, format: PLAIN_CSV_FORMAT })),
  };
}

async function loadModel(container: ContainerClient, modelFile: string): Promise<CdmModel> {
  let bytes: Buffer;
  try {
    bytes = await container.getBlobClient(modelFile).downloadToBuffer();
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) {
      throw new InputFileError(
        modelFile,
        'is missing: Customer Insights exports describe their CSV columns there',
      );
    }
    throw error;
  }
  return parseCdmModel(bytes.toString('utf8'), modelFile);
}

async function listLevel(
  container: ContainerClient,
  prefix: string,
): Promise<{ prefixes: string[]; blobs: string[] }> {
  const prefixes: string[] = [];
  const blobs: string[] = [];
  for await (const item of container.listBlobsByHierarchy('/', { prefix })) {
    if (item.kind === 'prefix') prefixes.push(item.name);
    else blobs.push(item.name);
  }
  return { prefixes, blobs };
}
