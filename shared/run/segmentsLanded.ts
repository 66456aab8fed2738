/**
 * Segments landing: the blob trigger's logic. A run starts once per landed snapshot, never once per
 * partition file, because only the write that completes a snapshot triggers:
 * - Customer Insights layout: `model.json` at `CustomerInsights_<instance>/<Export>/model.json` is written
 *   after the partitions it lists, so its write marks the snapshots it lists as complete. Each of its
 *   entities (segments) is looked up (newest snapshot folder); an incomplete one is skipped (its own
 *   model.json write will come).
 * - Plain layout: a `_SUCCESS` file in the segment's folder (`<Segment>/_SUCCESS` or deeper), the marker
 *   Spark, Hadoop and Data Factory write after the last part file; CSV writes alone start nothing.
 * The snapshot's key (segment + snapshot folder, or the marker's ETag) is remembered per export, so a
 * trigger delivered twice (at-least-once delivery) or a model.json rewritten for another segment does not
 * start a second run of the same snapshot.
 */
import { discoverSegments } from '../adapters/blob/discoverSegments';
import { parseCdmModel } from '../domain/segments/cdmModel';
import { ensureError } from '../errors';
import type { RunDeps } from './deps';
import { type ScheduledRunOutcome, startScheduledRuns } from './scheduledRuns';
import type { StartOrchestration } from './startRun';

const MODEL = /^(customerinsights_[^/]+\/[^/]+)\/model\.json$/i;
const MARKER = /^([^/]+)\/(?:.*\/)?_SUCCESS$/;

/** What a landed blob means: the segments whose snapshot it completes, each with the snapshot's key. */
export interface LandedSnapshot {
  segment: string;
  key: string;
}

/** Pure: whether a blob name is a snapshot-completing write (model.json or a `_SUCCESS` marker). */
export function classifyLandedBlob(blobName: string): 'model' | 'marker' | undefined {
  if (MODEL.test(blobName)) return 'model';
  if (MARKER.test(blobName)) return 'marker';
  return undefined;
}

/** The snapshots a landed blob completes. */
export async function landedSnapshots(
  deps: RunDeps,
  blobName: string,
  content: Buffer | undefined,
): Promise<LandedSnapshot[]> {
  const kind = classifyLandedBlob(blobName);
  if (kind === 'marker') {
    const segment = MARKER.exec(blobName)![1]!;
    const properties = await deps.segments.getBlobClient(blobName).getProperties();
    return [{ segment, key: `${segment.toLowerCase()}|${blobName}|${properties.etag ?? ''}` }];
  }
  if (kind !== 'model') return [];
  const text = content
    ? content.toString('utf8')
    : (await deps.segments.getBlobClient(blobName).downloadToBuffer()).toString('utf8');
  const model = parseCdmModel(text, blobName);
  const exportFolder = MODEL.exec(blobName)![1]!;
  const found: LandedSnapshot[] = [];
  for (const entity of model.entities) {
    try {
      const [segment] = await discoverSegments(deps.segments, [entity.name], 'customerInsights');
      if (!segment?.snapshotFolder) continue;
      found.push({
        segment: entity.name,
        key: `${entity.name.toLowerCase()}|${exportFolder.toLowerCase()}|${segment.snapshotFolder}`,
      });
    } catch (error) {
      // Not complete yet, or not found under this name: a later write of model.json triggers again.
      void ensureError(error);
    }
  }
  return found;
}

/** Starts the runs a landed blob calls for (exports with schedule `refresh` that include its segments). */
export async function onSegmentBlobLanded(
  deps: RunDeps,
  orchestrations: StartOrchestration,
  blobName: string,
  content: Buffer | undefined,
): Promise<ScheduledRunOutcome[]> {
  const snapshots = await landedSnapshots(deps, blobName, content);
  const outcomes: ScheduledRunOutcome[] = [];
  for (const snapshot of snapshots) {
    outcomes.push(
      ...(await startScheduledRuns(deps, orchestrations, {
        trigger: 'blob',
        requestedBy: 'blob trigger',
        segments: [snapshot.segment],
        snapshotKey: () => snapshot.key,
      })),
    );
  }
  return outcomes;
}
