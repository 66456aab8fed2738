import type { ContainerClient } from '@azure/storage-blob';
import { describe, expect, it, vi } from 'vitest';

import { discoverSegments } from '../../../../shared/adapters/blob/discoverSegments';
import { InputFileError, isRetryable, SnapshotIncompleteError } from '../../../../shared/errors';
import { freshContainer } from '../../../helpers/azurite';
import { cdmModelJson, uploadText, writeCustomerInsightsSegment } from '../../../helpers/segmentFixtures';

const ROOT = 'CustomerInsights_contoso/ActiveCampaignExport';
const FORMAT = { columnHeaders: false, delimiter: ',' } as const;

/** Writes tiny CSV partitions (no model.json) and returns their blob names. */
async function writeCsvs(container: ContainerClient, segment: string, stamp: string, names: string[]) {
  const blobs = names.map((n) => `${ROOT}/${segment}/${stamp}/${n}`);
  for (const blob of blobs) await uploadText(container, blob, ['a@example.com,A,B,1,X\r\n']);
  return blobs;
}

/** Writes model.json listing `listed` (blob names in `container`) as the segment's partitions. */
async function writeModel(container: ContainerClient, segment: string, listed: string[]) {
  await uploadText(container, `${ROOT}/model.json`, [
    cdmModelJson(container.url, [{ segment, blobs: listed, format: FORMAT }]),
  ]);
}

const files = (blobs: string[]) => blobs.map((b) => b.slice(b.lastIndexOf('/') + 1));

describe('discoverSegments', () => {
  it('returns every listed partition of the newest folder model.json lists when the snapshot is complete', async () => {
    const container = await freshContainer('disc');
    await writeCsvs(container, 'Seg', '2024/05/01/0100', ['Seg_1.csv']);
    const blobs = await writeCsvs(container, 'Seg', '2024/05/02/0200', [
      'Seg_10.csv',
      'Seg_1.csv',
      'Seg_2.csv',
    ]);
    await writeModel(container, 'Seg', blobs);
    const [found] = await discoverSegments(container, ['Seg']);
    expect(found).toMatchObject({
      name: 'Seg',
      layout: 'customerInsights',
      snapshotFolder: '2024/05/02/0200',
    });
    expect(files(found!.partitions.map((p) => p.blobName))).toEqual(['Seg_1.csv', 'Seg_2.csv', 'Seg_10.csv']);
    expect(found!.partitions[0]!.format).toMatchObject({
      columnHeaders: false,
      columns: ['Email', 'FirstName', 'LastName', 'Phone', 'City'],
    });
    expect(found!.warnings).toBeUndefined();
  });

  it('fails retryably naming the segment, folder and missing partitions when a listed partition is not written yet', async () => {
    const container = await freshContainer('disc');
    await writeCsvs(container, 'Seg', '2024/05/01/0100', ['Seg_1.csv']);
    await writeCsvs(container, 'Seg', '2024/05/02/0200', ['Seg_1.csv']);
    const folder = `${ROOT}/Seg/2024/05/02/0200`;
    await writeModel(container, 'Seg', [`${folder}/Seg_1.csv`, `${folder}/Seg_2.csv`, `${folder}/Seg_3.csv`]);
    const error = await discoverSegments(container, ['Seg']).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SnapshotIncompleteError);
    expect(isRetryable(error)).toBe(true);
    expect(error).toMatchObject({ segment: 'Seg', folder, missing: ['Seg_2.csv', 'Seg_3.csv'] });
    expect((error as Error).message).toMatch(
      /Segment "Seg": snapshot folder CustomerInsights_contoso\/ActiveCampaignExport\/Seg\/2024\/05\/02\/0200 is incomplete: .*missing: Seg_2\.csv, Seg_3\.csv; Customer Insights is probably still writing it; the run will be retried/,
    );
  });

  it('reads only listed partitions and warns about the rest when the folder holds files model.json does not list', async () => {
    const container = await freshContainer('disc');
    const [one, two] = await writeCsvs(container, 'Seg', '2024/05/02/0200', [
      'Seg_1.csv',
      'Seg_2.csv',
      'Seg_3.csv',
    ]);
    await writeModel(container, 'Seg', [one!, two!]);
    const [found] = await discoverSegments(container, ['Seg']);
    expect(found!.partitions.map((p) => p.blobName)).toEqual([one, two]);
    expect(found!.warnings).toEqual([expect.stringContaining('model.json does not list: Seg_3.csv')]);
  });

  it('keeps the snapshot model.json lists and warns when a newer folder is not listed yet', async () => {
    const container = await freshContainer('disc');
    const listed = await writeCsvs(container, 'Seg', '2024/05/01/0100', ['Seg_1.csv', 'Seg_2.csv']);
    await writeCsvs(container, 'Seg', '2024/05/02/0200', ['Seg_1.csv']);
    await writeModel(container, 'Seg', listed);
    const [found] = await discoverSegments(container, ['Seg']);
    expect(found).toMatchObject({ snapshotFolder: '2024/05/01/0100' });
    expect(found!.partitions.map((p) => p.blobName)).toEqual(listed);
    expect(found!.warnings).toEqual([
      expect.stringMatching(/Seg\/2024\/05\/02\/0200 is newer than the snapshot model\.json lists/),
    ]);
  });

  it('refuses the segment, naming model.json, when model.json lists no partitions (never guesses the files)', async () => {
    const container = await freshContainer('disc');
    await writeCsvs(container, 'Seg', '2024/05/01/0100', ['Seg_1.csv', 'Seg_2.csv', 'Seg_3.csv']);
    await writeCsvs(container, 'Seg', '2024/05/02/0200', ['Seg_2.csv', 'Seg_1.csv']);
    await writeModel(container, 'Seg', []);
    const error = await discoverSegments(container, ['Seg']).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InputFileError);
    expect(isRetryable(error)).toBe(false);
    expect((error as Error).message).toMatch(/model\.json: lists no partitions for segment "Seg"/);
  });

  it.each([
    ['a space in the segment name, URL-encoded as %20', 'High Value'],
    ['a literal %20 in the segment name, URL-encoded as %2520', 'High%20Value'],
  ])('matches partition locations when they carry %s', async (_name, segment) => {
    const container = await freshContainer('disc');
    const { blobs } = await writeCustomerInsightsSegment(container, {
      segment,
      timestamp: '2024/05/02/0200',
      parts: [{ rows: 2 }, { rows: 2, firstIndex: 2 }],
    });
    const model = (await container.getBlobClient(`${ROOT}/model.json`).downloadToBuffer()).toString('utf8');
    expect(model).toContain(encodeURIComponent(segment));
    const [found] = await discoverSegments(container, [segment]);
    expect(found!.partitions.map((p) => p.blobName)).toEqual(blobs);

    // The same model.json with one listed partition deleted: the encoded name is matched, so it is missed.
    await container.getBlobClient(blobs[1]!).delete();
    await expect(discoverSegments(container, [segment])).rejects.toThrow(
      new RegExp(`missing: ${segment}_2\\.csv`),
    );
  });

  it('lists the instance and export folders once when several segments are discovered in one call', async () => {
    const container = await freshContainer('disc');
    const a = await writeCsvs(container, 'SegA', '2024/05/02/0200', ['SegA_1.csv']);
    const b = await writeCsvs(container, 'SegB', '2024/05/02/0200', ['SegB_1.csv']);
    await uploadText(container, `${ROOT}/model.json`, [
      cdmModelJson(container.url, [
        { segment: 'SegA', blobs: a, format: FORMAT },
        { segment: 'SegB', blobs: b, format: FORMAT },
      ]),
    ]);
    const list = vi.spyOn(container, 'listBlobsByHierarchy');
    const found = await discoverSegments(container, ['SegA', 'SegB']);
    expect(found.map((f) => files(f.partitions.map((p) => p.blobName)))).toEqual([
      ['SegA_1.csv'],
      ['SegB_1.csv'],
    ]);
    const listed = list.mock.calls.map(([, options]) => options?.prefix);
    expect(listed.filter((prefix) => prefix === 'CustomerInsights_contoso/')).toHaveLength(1);
    expect(listed.filter((prefix) => prefix === `${ROOT}/`)).toHaveLength(1);
  });
});
