/**
 * Finds the newest snapshot of each segment in the segment container, in either layout (docs/architecture.md, README "Segment input"):
 * - Customer Insights: CustomerInsights_<instance>/<ExportName>/<Segment>/<yyyy>/<MM>/<dd>/<HHmm>/<Segment>_<n>.csv
 *   with model.json at the <ExportName> level (columns and each partition's CSV format). When model.json
 *   lists partitions for the segment, the snapshot is the newest folder it lists and every listed partition
 *   must exist (else a retryable SnapshotIncompleteError); without a list, every CSV of the newest folder;
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
import { InputFileError, NotFoundError, SnapshotIncompleteError, statusCodeOf } from '../../errors';

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
  /** What discovery skipped and the operator should hear about (e.g. CSVs model.json does not list). */
  warnings?: string[];
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
  // Every segment walks the same instance and export folders: list each once per call.
  const folders = new Map<string, Promise<Listing>>();
  const result: DiscoveredSegment[] = [];
  for (const segment of segments) {
    const found =
      (layout !== 'plain'
        ? await findCustomerInsights(container, root.prefixes, segment, models, folders)
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
  rootPrefixes: readonly string[],
  segment: string,
  models: Map<string, Promise<CdmModel>>,
  folders: Map<string, Promise<Listing>>,
): Promise<DiscoveredSegment | undefined> {
  const wanted = `${segment.toLowerCase()}/`;
  let best: { exportFolder: string; segmentFolder: string; newest: NewestFolder } | undefined;
  for (const instance of rootPrefixes.filter((p) => p.toLowerCase().startsWith(CI_PREFIX))) {
    for (const exportFolder of (await listLevelOnce(container, instance, folders)).prefixes) {
      const segmentFolders = (await listLevelOnce(container, exportFolder, folders)).prefixes.filter(
        (p) => p.slice(exportFolder.length).toLowerCase() === wanted,
      );
      for (const segmentFolder of segmentFolders) {
        const newest = await newestTimestampFolder(container, segmentFolder, 4);
        if (!newest) continue;
        if (!best || compareStamps(newest.stamp, best.newest.stamp) > 0) {
          best = { exportFolder, segmentFolder, newest };
        }
      }
    }
  }
  if (!best) return undefined;
  const modelFile = `${best.exportFolder}model.json`;
  const resolved = await once(models, modelFile, () => loadModel(container, modelFile));
  const listed = listedPartitions(container, resolved, modelFile, segment);
  if (!listed.length) {
    // model.json is the record of what a snapshot holds; without a partition list nothing says which files
    // are complete, so the run stops rather than guess (docs/architecture.md, "Guards").
    throw new InputFileError(
      modelFile,
      `lists no partitions for segment "${segment}", so which files make up its snapshot cannot be determined; nothing was sent`,
    );
  }
  const snapshot = await listedSnapshot(
    container,
    segment,
    best.segmentFolder,
    best.newest,
    listed,
    modelFile,
  );
  return {
    name: segment,
    layout: 'customerInsights',
    snapshotFolder: snapshot.stamp,
    partitions: snapshot.blobs.map((blobName) => ({
      blobName,
      format: csvFormatFor(resolved, modelFile, segment, blobName),
    })),
    ...(snapshot.warnings.length ? { warnings: snapshot.warnings } : {}),
  };
}

/** The newest timestamp folder under a segment folder. */
interface NewestFolder {
  /** Blob prefix of the folder, ending in `/`. */
  folder: string;
  /** `yyyy/MM/dd/HHmm` (shorter when the newest branch stops early). */
  stamp: string;
  /** CSV files directly in the folder, by name. */
  csvs: string[];
}

/** A chosen snapshot: its folder stamp, the partitions to read and what to tell the operator. */
interface ChosenSnapshot {
  stamp: string;
  blobs: string[];
  warnings: string[];
}

/**
 * Follows the newest numeric child `depth` levels down, never backing off to an older branch: an older
 * folder is an older snapshot, and using it without a word would export stale data. Undefined only when
 * the segment folder has no numeric child at all (not this layout). Numeric blobs count as children too:
 * on hierarchical-namespace (ADLS Gen2) accounts, where Customer Insights writes, a directory is also a
 * zero-length blob, so an empty directory shows up only that way.
 */
async function newestTimestampFolder(
  container: ContainerClient,
  segmentFolder: string,
  depth: number,
): Promise<NewestFolder | undefined> {
  let prefix = segmentFolder;
  for (let level = 0; level < depth; level++) {
    const listing = await listLevel(container, prefix);
    const children = new Set(
      [
        ...listing.prefixes.map((p) => p.slice(prefix.length, -1)),
        ...listing.blobs.map((b) => b.slice(prefix.length)),
      ].filter((name) => /^\d+$/.test(name)),
    );
    const newest = [...children].sort((a, b) => Number(b) - Number(a))[0];
    if (newest === undefined) {
      if (level === 0) return undefined;
      break;
    }
    prefix = `${prefix}${newest}/`;
  }
  const csvs = (await listLevel(container, prefix)).blobs.filter((b) => CSV_FILE.test(b)).sort(byName);
  return { folder: prefix, stamp: prefix.slice(segmentFolder.length, -1), csvs };
}

/**
 * With a partition list in model.json (the CDM record of what a snapshot holds): the newest timestamp
 * folder it lists, and exactly the partitions it lists there. Customer Insights writes partitions one at a
 * time and the blob trigger fires on the first new file, so a listed partition that is not there yet means
 * the snapshot is half-written: fail retryably rather than read partition 1 of N (in mirror mode, reading a
 * partial snapshot would unsubscribe everyone in the missing partitions).
 */
async function listedSnapshot(
  container: ContainerClient,
  segment: string,
  segmentFolder: string,
  newest: NewestFolder,
  listed: string[],
  modelFile: string,
): Promise<ChosenSnapshot> {
  const inFolder = listed.filter(
    (b) => b.startsWith(segmentFolder) && b.lastIndexOf('/') >= segmentFolder.length,
  );
  if (!inFolder.length) {
    throw new InputFileError(
      modelFile,
      `lists partitions for segment "${segment}" only outside ${segmentFolder} (e.g. ${listed[0]})`,
    );
  }
  const folderOf = (blob: string) => blob.slice(0, blob.lastIndexOf('/') + 1);
  const stampOf = (folder: string) => folder.slice(segmentFolder.length, -1);
  const folder = inFolder.map(folderOf).reduce((a, b) => (compareStamps(stampOf(b), stampOf(a)) > 0 ? b : a));
  const stamp = stampOf(folder);
  const wanted = [...new Set(inFolder.filter((b) => folderOf(b) === folder))].sort(byName);
  const present = new Set((await listLevel(container, folder)).blobs);
  const missing = wanted.filter((b) => !present.has(b));
  const fileName = (blob: string) => blob.slice(blob.lastIndexOf('/') + 1);
  if (missing.length) {
    throw new SnapshotIncompleteError(
      segment,
      folder.slice(0, -1),
      missing.map(fileName),
      `model.json lists ${wanted.length} partition(s) there, missing: ${missing.map(fileName).join(', ')}`,
    );
  }
  const warnings: string[] = [];
  const listedSet = new Set(wanted);
  const extras = [...present].filter((b) => CSV_FILE.test(b) && !listedSet.has(b)).sort(byName);
  if (extras.length) {
    warnings.push(
      `${folder.slice(0, -1)}: ignored ${extras.length} file(s) model.json does not list: ${extras.map(fileName).join(', ')}`,
    );
  }
  if (compareStamps(newest.stamp, stamp) > 0) {
    warnings.push(
      `${segmentFolder}${newest.stamp} is newer than the snapshot model.json lists (${stamp}) and was ignored: ` +
        'Customer Insights updates model.json when a snapshot is complete',
    );
  }
  return { stamp, blobs: wanted, warnings };
}

/** Blob names (in this container) of the partitions model.json lists for the segment's entity. */
function listedPartitions(
  container: ContainerClient,
  model: CdmModel,
  modelFile: string,
  segment: string,
): string[] {
  const entity = model.entities.find((e) => e.name.toLowerCase() === segment.toLowerCase());
  if (!entity) {
    const names = model.entities.map((e) => JSON.stringify(e.name)).join(', ');
    throw new InputFileError(modelFile, `has no entity for segment "${segment}" (entities: ${names})`);
  }
  const blobs: string[] = [];
  for (const { location } of entity.partitions) {
    if (location === undefined || location === '') continue;
    const blob = blobNameOf(container, location);
    if (blob === undefined) {
      throw new InputFileError(
        modelFile,
        `partition location ${JSON.stringify(location)} of "${entity.name}" is not in container "${container.containerName}"`,
      );
    }
    blobs.push(blob);
  }
  return blobs;
}

/**
 * The blob name a partition `location` (an absolute, usually URL-encoded blob URL) points to in this
 * container, or undefined. The path after the container is compared exactly. The host is not compared:
 * CDM writers record the Data Lake endpoint (`<account>.dfs.core.windows.net`) while we read through the
 * blob endpoint, and both address the same blobs; the emulator's path-style URLs carry the account first.
 */
function blobNameOf(container: ContainerClient, location: string): string | undefined {
  let url: URL;
  try {
    url = new URL(location);
  } catch {
    return undefined;
  }
  const decode = (path: string) => {
    try {
      return decodeURIComponent(path);
    } catch {
      return path;
    }
  };
  const path = decode(url.pathname);
  const containerPath = decode(new URL(container.url).pathname).replace(/\/$/, '');
  for (const root of [containerPath, `/${container.containerName}`]) {
    if (path.toLowerCase().startsWith(`${root.toLowerCase()}/`)) return path.slice(root.length + 1);
  }
  return undefined;
}

/** Orders `yyyy/MM/dd/HHmm` stamps: part by part, numerically; a longer stamp wins a tie. */
function compareStamps(a: string, b: string): number {
  const pa = a.split('/');
  const pb = b.split('/');
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const diff = byName(pa[i]!, pb[i]!);
    if (diff) return diff;
  }
  return pa.length - pb.length;
}

async function findPlain(
  container: ContainerClient,
  rootPrefixes: readonly string[],
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
    if (statusCodeOf(error) === 404) {
      throw new InputFileError(
        modelFile,
        'is missing: Customer Insights exports describe their CSV columns there',
      );
    }
    throw error;
  }
  return parseCdmModel(bytes.toString('utf8'), modelFile);
}

/** One level of the blob hierarchy under a prefix: sub-folders and blobs, by full name. */
interface Listing {
  prefixes: readonly string[];
  blobs: readonly string[];
}

/** `listLevel`, memoized in `cache` (one `discoverSegments` call): the listing is shared, never mutated. */
function listLevelOnce(
  container: ContainerClient,
  prefix: string,
  cache: Map<string, Promise<Listing>>,
): Promise<Listing> {
  return once(cache, prefix, () => listLevel(container, prefix));
}

/** `cache`'s value for `key`, made by `load` the first time (the promise is shared, so loads never repeat). */
function once<T>(cache: Map<string, Promise<T>>, key: string, load: () => Promise<T>): Promise<T> {
  let value = cache.get(key);
  if (!value) {
    value = load();
    cache.set(key, value);
  }
  return value;
}

async function listLevel(container: ContainerClient, prefix: string): Promise<Listing> {
  const prefixes: string[] = [];
  const blobs: string[] = [];
  for await (const item of container.listBlobsByHierarchy('/', { prefix })) {
    if (item.kind === 'prefix') prefixes.push(item.name);
    else blobs.push(item.name);
  }
  return { prefixes, blobs };
}
