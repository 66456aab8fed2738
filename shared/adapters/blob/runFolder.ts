/**
 * Where an export's work lives in the work container:
 *   exports/<exportId>/snapshot.bin.gz                      what ActiveCampaign confirmed (advanced by Finalise)
 *   exports/<exportId>/runs/<runId>/slices/00001.json.br    staged bulk-import requests (slices.ts)
 *   exports/<exportId>/runs/<runId>/rejected.csv            rejected rows with reasons
 *   exports/<exportId>/runs/<runId>/target-snapshot.bin.gz  the snapshot if everything is confirmed
 */
import { ValidationError } from '../../errors';

const ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;

function checkId(field: string, value: string): string {
  if (!ID.test(value)) {
    throw new ValidationError('Invalid identifier', [
      { field, message: 'must be 1-128 letters, digits, "-" or "_", starting with a letter or digit' },
    ]);
  }
  return value;
}

/** The folder holding an export's snapshot and runs. */
export function exportFolder(exportId: string): string {
  return `exports/${checkId('exportId', exportId)}`;
}

/** The folder of one run. */
export function runFolder(exportId: string, runId: string): string {
  return `${exportFolder(exportId)}/runs/${checkId('runId', runId)}`;
}

/** The blob name of slice `n` (1-based) of a run. */
export function sliceBlobName(folder: string, n: number): string {
  return `${folder}/slices/${String(n).padStart(5, '0')}.json.br`;
}

/** The blob name of a run's rejected-rows CSV. */
export function rejectedBlobName(folder: string): string {
  return `${folder}/rejected.csv`;
}

/** The blob name of the snapshot a run would leave if ActiveCampaign confirmed everything. */
export function targetSnapshotBlobName(folder: string): string {
  return `${folder}/target-snapshot.bin.gz`;
}

/** The blob name of an export's confirmed snapshot. */
export function snapshotBlobName(exportId: string): string {
  return `${exportFolder(exportId)}/snapshot.bin.gz`;
}
