/**
 * The segments segment storage holds, for the admin page's picker (`GET /api/segments`) and for checking an
 * export's segments on save. Layouts as in discoverSegments.ts: Customer Insights
 * (`CustomerInsights_<instance>/<Export>/<Segment>/yyyy/MM/dd/HHmm/*.csv`) and plain (`<Segment>/**\/*.csv[.gz]`).
 */
import type { ContainerClient } from '@azure/storage-blob';

import { discoverSegments } from '../adapters/blob/discoverSegments';
import { AppError, NotFoundError, statusCodeOf } from '../errors';

/** One segment as the picker shows it. */
export interface SegmentSummary {
  name: string;
  layout: 'customerInsights' | 'plain';
  /** The newest snapshot's time: the timestamp folder (Customer Insights) or the newest file's (plain). */
  newestSnapshotAt: string | null;
  /** CSV files in the newest snapshot (Customer Insights) or under the folder (plain). */
  fileCount: number;
}

const CSV = /\.csv(\.gz)?$/i;
const STAMP = /^(\d{4})\/(\d{2})\/(\d{2})\/(\d{2})(\d{2})$/;

/** Every segment in the container, by name (case-insensitive), with its newest snapshot and file count. */
export async function listSegments(container: ContainerClient): Promise<SegmentSummary[]> {
  const found = new Map<string, { summary: SegmentSummary; stamp: string }>();
  try {
    for await (const blob of container.listBlobsFlat()) {
      if (!CSV.test(blob.name)) continue;
      const parts = blob.name.split('/');
      if (parts[0]?.toLowerCase().startsWith('customerinsights_') && parts.length === 8) {
        const name = parts[2]!;
        const stamp = parts.slice(3, 7).join('/');
        const m = STAMP.exec(stamp);
        if (!m) continue;
        const key = `ci:${name.toLowerCase()}`;
        const current = found.get(key);
        if (!current || stamp > current.stamp) {
          const at = `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:00.000Z`;
          found.set(key, {
            stamp,
            summary: { name, layout: 'customerInsights', newestSnapshotAt: at, fileCount: 1 },
          });
        } else if (stamp === current.stamp) {
          current.summary.fileCount++;
        }
      } else if (parts.length >= 2 && !parts[0]!.toLowerCase().startsWith('customerinsights_')) {
        const name = parts[0]!;
        const key = `plain:${name.toLowerCase()}`;
        const modified = blob.properties.lastModified?.toISOString() ?? '';
        const current = found.get(key);
        if (!current) {
          found.set(key, {
            stamp: modified,
            summary: { name, layout: 'plain', newestSnapshotAt: modified || null, fileCount: 1 },
          });
        } else {
          current.summary.fileCount++;
          if (modified > current.stamp) {
            current.stamp = modified;
            current.summary.newestSnapshotAt = modified;
          }
        }
      }
    }
  } catch (error) {
    if (statusCodeOf(error) === 404) return []; // no container yet: no segments
    throw error;
  }
  return [...found.values()]
    .map((f) => f.summary)
    .sort((a, b) => a.name.localeCompare(b.name) || a.layout.localeCompare(b.layout));
}

/** The names among `names` that have no CSV files in the container (discoverSegments decides). */
export async function findMissingSegments(
  container: ContainerClient,
  names: readonly string[],
): Promise<string[]> {
  const missing: string[] = [];
  for (const name of names) {
    try {
      await discoverSegments(container, [name]);
    } catch (error) {
      // Only "not there" counts: an incomplete snapshot or a bad model.json is a segment that exists.
      if (error instanceof NotFoundError || statusCodeOf(error) === 404) missing.push(name);
      else if (!(error instanceof AppError)) throw error; // storage unreachable: not an answer
    }
  }
  return missing;
}
