import { app, type InvocationContext, type Timer } from '@azure/functions';
import * as df from 'durable-functions';

import { getConfig } from '../shared/config';
import { runDepsFromConfig } from '../shared/run/deps';
import { durableStarter } from '../shared/run/durableStarter';
import { startScheduledRuns } from '../shared/run/scheduledRuns';
import { onSegmentBlobLanded } from '../shared/run/segmentsLanded';

const deps = () => runDepsFromConfig(getConfig());

/** Timer (`EXPORT_SCHEDULE`, NCRONTAB): the scheduled refresh runs every export whose schedule is `refresh`. */
export async function scheduledRefresh(_timer: Timer, context: InvocationContext): Promise<void> {
  const outcomes = await startScheduledRuns(deps(), durableStarter(df.getClient(context)), {
    trigger: 'schedule',
    requestedBy: 'schedule',
  });
  for (const o of outcomes)
    context.log(
      `Scheduled refresh: export ${o.exportId} ${o.outcome}${o.runId ? ` ${o.runId}` : ''}${o.reason ? `: ${o.reason}` : ''}`,
    );
}

/** Blob trigger: a write that completes a segment snapshot (model.json, or a `_SUCCESS` marker). */
export async function segmentLanded(blob: unknown, context: InvocationContext): Promise<void> {
  // `BlobTrigger` metadata is `<container>/<blob name>`.
  const trigger = context.triggerMetadata?.blobTrigger;
  const path = typeof trigger === 'string' ? trigger : '';
  const name = path.slice(path.indexOf('/') + 1);
  const content = Buffer.isBuffer(blob) ? blob : undefined;
  const outcomes = await onSegmentBlobLanded(deps(), durableStarter(df.getClient(context)), name, content);
  for (const o of outcomes)
    context.log(
      `Segment landed (${name}): export ${o.exportId} ${o.outcome}${o.runId ? ` ${o.runId}` : ''}${o.reason ? `: ${o.reason}` : ''}`,
    );
}

app.timer('scheduledRefresh', {
  schedule: '%EXPORT_SCHEDULE%',
  extraInputs: [df.input.durableClient()],
  handler: scheduledRefresh,
});
// Only the writes that complete a snapshot start runs (shared/run/segmentsLanded.ts); other blobs are ignored.
// Event Grid delivers blob-created events in Azure, filtered to model.json and _SUCCESS (infra/main.json);
// the local host polls the container instead.
app.storageBlob('segmentLanded', {
  path: '%SEGMENT_CONTAINER%/{name}',
  connection: 'SegmentStorage',
  source: 'EventGrid',
  extraInputs: [df.input.durableClient()],
  handler: segmentLanded,
});
