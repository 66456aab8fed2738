import { readFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync, inflateRawSync } from 'node:zlib';

import type { ContainerClient } from '@azure/storage-blob';
import { describe, expect, it } from 'vitest';

import { prepareSegments, type PrepareSegmentsInput } from '../../../../shared/adapters/blob/prepareSegments';
import { snapshotBlobName } from '../../../../shared/adapters/blob/runFolder';
import { readSlice } from '../../../../shared/adapters/blob/slices';
import {
  advanceExportSnapshot,
  readSnapshot,
  writeSnapshot,
} from '../../../../shared/adapters/blob/snapshotStore';
import { hash64 } from '../../../../shared/domain/segments/hash64';
import { encodeSnapshot, SnapshotBuilder } from '../../../../shared/domain/segments/snapshot';
import { InputFileError, LimitExceededError, NotFoundError } from '../../../../shared/errors';
import { freshContainer } from '../../../helpers/azurite';
import {
  fixtureEmail,
  uploadText,
  writeCustomerInsightsSegment,
  writePlainSegment,
} from '../../../helpers/segmentFixtures';

const FIXTURES = path.join(__dirname, '../../../fixtures/segments');

interface Contact {
  email: string;
  first_name?: string;
  last_name?: string;
  phone?: string;
  fields?: { id: number; value: string }[];
  subscribe?: { listid: number }[];
  unsubscribe?: { listid: number }[];
}
interface SliceFile {
  requests: {
    contactCount: number;
    bytes: number;
    body: { contacts: Contact[]; exclude_automations: boolean };
  }[];
}

async function setup() {
  const [segments, work] = await Promise.all([freshContainer('seg'), freshContainer('work')]);
  const input = (over: Partial<PrepareSegmentsInput> = {}): PrepareSegmentsInput => ({
    exportId: 'exp1',
    runId: 'run1',
    segments: ['HighValue'],
    mapping: { email: 'email', firstName: 'firstname', lastName: 'lastname', phone: 'phone' },
    listId: 3,
    profileCap: 1_000_000,
    ...over,
  });
  const prepare = (over: Partial<PrepareSegmentsInput> = {}) =>
    prepareSegments(input(over), { segmentContainer: segments, workContainer: work });
  return { segments, work, prepare };
}

/** `work`, counting slice uploads in flight (`now`) and the most at once (`most`). */
function countingSliceUploads(
  work: ContainerClient,
  uploads: { now: number; most: number },
): ContainerClient {
  return new Proxy(work, {
    get(target, prop, receiver) {
      if (prop !== 'getBlockBlobClient') return Reflect.get(target, prop, receiver) as unknown;
      return (name: string) => {
        const client = target.getBlockBlobClient(name);
        if (!name.includes('/slices/')) return client;
        return new Proxy(client, {
          get(blob, key, r) {
            if (key !== 'upload') return Reflect.get(blob, key, r) as unknown;
            return async (...args: Parameters<typeof blob.upload>) => {
              uploads.most = Math.max(uploads.most, ++uploads.now);
              try {
                return await blob.upload(...args);
              } finally {
                uploads.now--;
              }
            };
          },
        });
      };
    },
  });
}

async function slicesOf(work: ContainerClient, runFolder: string): Promise<SliceFile[]> {
  const out: SliceFile[] = [];
  for await (const b of work.listBlobsFlat({ prefix: `${runFolder}/slices/` })) {
    out.push((await readSlice(work, b.name)) as unknown as SliceFile);
  }
  return out;
}
const contactsOf = (slices: SliceFile[]) => slices.flatMap((s) => s.requests.flatMap((r) => r.body.contacts));
const text = async (work: ContainerClient, name: string) =>
  (await work.getBlobClient(name).downloadToBuffer()).toString('utf8');

describe('prepareSegments', () => {
  it('reads all partitions of the newest Customer Insights snapshot using model.json columns when files have no header', async () => {
    const { segments, work, prepare } = await setup();
    await writeCustomerInsightsSegment(segments, {
      segment: 'HighValue',
      timestamp: '2024/04/30/2359',
      parts: [{ rows: 50, seed: 9 }],
    });
    const { stats } = await writeCustomerInsightsSegment(segments, {
      segment: 'HighValue',
      timestamp: '2024/05/01/0930',
      parts: [
        { rows: 300, invalidShare: 0.05, duplicateShare: 0.1, missingShare: 0.02 },
        { rows: 200, firstIndex: 300, duplicateShare: 0.1 },
      ],
    });
    const result = await prepare();
    expect(result.segments).toEqual([
      {
        name: 'HighValue',
        layout: 'customerInsights',
        snapshotFolder: '2024/05/01/0930',
        files: [
          'CustomerInsights_contoso/ActiveCampaignExport/HighValue/2024/05/01/0930/HighValue_1.csv',
          'CustomerInsights_contoso/ActiveCampaignExport/HighValue/2024/05/01/0930/HighValue_2.csv',
        ],
      },
    ]);
    expect(result.counts).toMatchObject({
      rows: 500,
      contacts: stats.valid,
      added: stats.valid,
      rejectedByReason: {
        invalid_email: stats.invalid,
        duplicate: stats.duplicate,
        missing_email: stats.missing,
      },
    });
    const contacts = contactsOf(await slicesOf(work, result.runFolder));
    expect(contacts).toHaveLength(stats.valid);
    expect(contacts[0]).toEqual(
      expect.objectContaining({
        email: fixtureEmail(0),
        subscribe: [{ listid: 3 }],
        first_name: expect.any(String) as unknown,
      }),
    );
    const rejected = (await text(work, result.rejectedBlob)).trimEnd().split('\r\n');
    expect(rejected[0]).toBe('file,line,email,reason,detail');
    expect(rejected).toHaveLength(1 + stats.invalid + stats.duplicate + stats.missing);
  });

  it.each([
    [
      'semicolon, header, QuoteAfterDelimiter, UTF-16LE',
      { columnHeaders: true, delimiter: ';', csvStyle: 'CsvStyle.QuoteAfterDelimiter', encoding: 'UTF-16' },
    ],
    [
      'tab, no quoting, windows-1252',
      { delimiter: '\t', quoteStyle: 'QuoteStyle.None', encoding: 'windows-1252' },
    ],
    ['pipe, QuoteAlways, UTF-8', { delimiter: '|', csvStyle: 'CsvStyle.QuoteAlways', encoding: 'UTF-8' }],
  ] as const)('honours the partition format when it is %s', async (_name, format) => {
    const { segments, work, prepare } = await setup();
    const { stats } = await writeCustomerInsightsSegment(segments, {
      segment: 'HighValue',
      timestamp: '2024/05/01/0930',
      parts: [{ rows: 120 }],
      format,
    });
    const result = await prepare();
    expect(result.counts).toMatchObject({ rows: 120, contacts: stats.valid, rejected: 0 });
    const contacts = contactsOf(await slicesOf(work, result.runFolder));
    // Unicode names survive every encoding the fixture uses (the latin1 one only has Latin-1 names mapped).
    expect(contacts.some((c) => /[éöüøł]/i.test(`${c.first_name}${c.last_name}`))).toBe(true);
    expect(contacts.every((c) => !c.first_name?.includes('"'))).toBe(true);
  });

  it('reports, and does not read, a partition file model.json does not list', async () => {
    const { segments, prepare } = await setup();
    const { stats } = await writeCustomerInsightsSegment(segments, {
      segment: 'HighValue',
      timestamp: '2024/05/01/0930',
      parts: [{ rows: 20 }],
    });
    await uploadText(
      segments,
      'CustomerInsights_contoso/ActiveCampaignExport/HighValue/2024/05/01/0930/HighValue_9.csv',
      ['"stray@example.com","S","T","1"'],
    );
    const result = await prepare();
    expect(result.counts).toMatchObject({ rows: 20, contacts: stats.valid });
    expect(result.segments[0]!.warnings).toEqual([expect.stringContaining('does not list: HighValue_9.csv')]);
  });

  it('reads plain-layout .csv.gz partitions and dedupes across partitions and segments in the export order', async () => {
    const { segments, work, prepare } = await setup();
    const a = await writePlainSegment(segments, 'Alpha', [{ rows: 100 }, { rows: 100, firstIndex: 50 }], {
      gzip: true,
    });
    await writePlainSegment(segments, 'Beta', [{ rows: 100, firstIndex: 100, nameSuffix: 'B' }]);
    const result = await prepare({ segments: ['alpha', 'Beta'] });
    expect(result.segments.map((s) => [s.name, s.layout, s.files.length])).toEqual([
      ['alpha', 'plain', 2],
      ['Beta', 'plain', 1],
    ]);
    expect(a.stats.rows).toBe(200);
    // People 0..199 once each: 50 overlap inside Alpha (50..99), 50 between Alpha and Beta (100..149).
    expect(result.counts).toMatchObject({ rows: 300, contacts: 200, rejectedByReason: { duplicate: 100 } });
    const contacts = contactsOf(await slicesOf(work, result.runFolder));
    const p120 = contacts.find((c) => c.email === fixtureEmail(120))!;
    expect(p120.first_name).not.toMatch(/B$/); // Alpha (listed first) wins over Beta
    expect(contacts.find((c) => c.email === fixtureEmail(180))!.first_name).toMatch(/B$/);
    const rejected = await text(work, result.rejectedBlob);
    expect(rejected).toContain('Beta/part-00001.csv,2,');
    expect(rejected).toMatch(/duplicate,same email as Alpha\/part-00002\.csv\.gz line 52/);
  });

  it('stages many slices uploaded two at a time, reusing slice buffers, with every contact exactly once and in order', async () => {
    const { segments, work } = await setup();
    // Valid rows only: person i is contact i, and slices hold them in file order.
    await writePlainSegment(segments, 'Many', [{ rows: 700, seed: 5 }]);
    const uploads = { now: 0, most: 0 };
    const result = await prepareSegments(
      {
        exportId: 'exp1',
        runId: 'many',
        segments: ['Many'],
        mapping: { email: 'email', firstName: 'firstname', lastName: 'lastname', phone: 'phone' },
        listId: 3,
        profileCap: 1_000_000,
        packing: { maxContactsPerRequest: 3, requestsPerSlice: 2 },
      },
      {
        segmentContainer: segments,
        workContainer: countingSliceUploads(work, uploads),
        uploadConcurrency: 2,
      },
    );
    expect(result.counts).toMatchObject({ rows: 700, contacts: 700, requests: 234, slices: 117 });
    expect(uploads.most).toBe(2);
    const slices = await slicesOf(work, result.runFolder);
    expect(slices.map((s) => (s as unknown as { slice: number }).slice)).toEqual(
      Array.from({ length: 117 }, (_, i) => i + 1),
    );
    expect(slices.every((s) => s.requests.length <= 2 && s.requests.every((r) => r.contactCount <= 3))).toBe(
      true,
    );
    expect(contactsOf(slices).map((c) => c.email)).toEqual(
      Array.from({ length: 700 }, (_, i) => fixtureEmail(i, 5)),
    );
  });

  it('exports or rejects every row of a messy file with the line where each record starts', async () => {
    const { segments, work, prepare } = await setup();
    await uploadText(segments, 'Messy/export.csv', [readFileSync(path.join(FIXTURES, 'messy.csv'))]);
    const result = await prepare({
      segments: ['Messy'],
      mapping: { email: 'EMAIL', firstName: 'first name', lastName: 'Last Name', phone: 'phone' },
    });
    const contacts = contactsOf(await slicesOf(work, result.runFolder));
    expect(contacts.map(({ subscribe: _s, ...c }) => c)).toEqual([
      { email: 'ann@example.com', first_name: 'Ann', last_name: 'Lee', phone: '+1 555 0100' },
      { email: 'bob@example.com', first_name: 'Bob', last_name: 'O"Brien', phone: '555, ext 2' },
      { email: 'carol@example.com', first_name: 'Carol Marie', last_name: 'Ngọc' },
      { email: 'zoë@exämple.de', first_name: 'Zo\u00eb', last_name: 'Ünal' },
      { email: 'eve@example.com', first_name: 'Eve', last_name: 'Smith, Jr.', phone: '555' },
    ]);
    expect(await text(work, result.rejectedBlob)).toBe(
      'file,line,email,reason,detail\r\n' +
        'Messy/export.csv,7,ann@EXAMPLE.com,duplicate,same email as Messy/export.csv line 2\r\n' +
        'Messy/export.csv,8,,missing_email,the email column is empty\r\n' +
        'Messy/export.csv,9,not-an-email,invalid_email,no @\r\n' +
        'Messy/export.csv,10,dave@example.com,ragged_row,"expected 4 fields, found 2"\r\n',
    );
    expect(result.counts).toMatchObject({ rows: 9, contacts: 5, rejected: 4 });
  });

  it.each([
    [
      'a PNG image',
      Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex'),
      /Bad\/x\.csv:1: is a PNG image, not a CSV file/,
    ],
    [
      'corrupt gzip',
      Buffer.concat([gzipSync('email\na@example.com\n').subarray(0, 12), Buffer.alloc(40, 7)]),
      /Bad\/x\.csv\.gz: is not a valid gzip file/,
    ],
    [
      'invalid UTF-8',
      Buffer.from([0x65, 0x6d, 0x61, 0x69, 0x6c, 0x0a, 0xc3, 0x28, 0xff, 0xfe, 0x0a]),
      /Bad\/x\.csv:2: is not valid utf-8 text/,
    ],
    [
      'binary with NUL bytes',
      Buffer.from('email\na@example.com\n\x00\x01\x02garbage\n', 'latin1'),
      /Bad\/x\.csv:3: contains binary data/,
    ],
  ])('fails with an InputFileError naming the file when it is %s', async (_name, bytes, message) => {
    const { segments, prepare } = await setup();
    await uploadText(segments, `Bad/x.csv${_name === 'corrupt gzip' ? '.gz' : ''}`, [bytes]);
    const run = prepare({ segments: ['Bad'], mapping: { email: 'email' } });
    await expect(run).rejects.toThrow(InputFileError);
    await expect(prepare({ segments: ['Bad'], mapping: { email: 'email' } })).rejects.toThrow(message);
  });

  it('fails naming the column and the file when a mapped column is missing', async () => {
    const { segments, prepare } = await setup();
    await writePlainSegment(segments, 'Alpha', [{ rows: 3 }]);
    await expect(
      prepare({ segments: ['Alpha'], mapping: { email: 'Email', phone: 'Mobile' } }),
    ).rejects.toThrow(
      /Alpha\/part-00001\.csv: mapped phone column "Mobile" is not in the file \(columns: "Email", "FirstName"/,
    );
  });

  it('fails clearly when a segment is absent or its model.json is missing', async () => {
    const { segments, prepare } = await setup();
    await expect(prepare({ segments: ['Nope'] })).rejects.toThrow(NotFoundError);
    await writeCustomerInsightsSegment(segments, {
      segment: 'HighValue',
      timestamp: '2024/05/01/0930',
      parts: [{ rows: 2 }],
      model: false,
    });
    await expect(prepare()).rejects.toThrow(
      /CustomerInsights_contoso\/ActiveCampaignExport\/model\.json: is missing/,
    );
  });

  it('enforces the profile cap before anything is sent, naming the count, the cap and the setting', async () => {
    const { segments, prepare } = await setup();
    await writePlainSegment(segments, 'Alpha', [{ rows: 40 }]);
    const run = prepare({ segments: ['Alpha'], profileCap: 25 });
    await expect(run).rejects.toThrow(LimitExceededError);
    await expect(prepare({ segments: ['Alpha'], profileCap: 25 })).rejects.toThrow(
      'hold 40 unique valid profiles, more than the cap of 25 (setting EXPORT_PROFILE_CAP)',
    );
  });

  it('stops reading at twice the cap, before later files, when a segment holds far more profiles than the cap', async () => {
    const { segments, prepare } = await setup();
    await writePlainSegment(segments, 'Huge', [{ rows: 30 }]);
    // A later partition that would fail the run if it were read.
    await uploadText(segments, 'Huge/part-00002.csv', ['email\na@example.com\n\u0000\n']);
    const run = prepare({ segments: ['Huge'], mapping: { email: 'email' }, profileCap: 10 });
    await expect(run).rejects.toThrow(LimitExceededError);
    await expect(
      prepare({ segments: ['Huge'], mapping: { email: 'email' }, profileCap: 10 }),
    ).rejects.toThrow(
      /hold more than 20 unique valid profiles \(reading stopped there\), more than the cap of 10/,
    );
  });

  it('splits requests by bytes under 400,000 when custom field values are huge', async () => {
    const { segments, work, prepare } = await setup();
    const big = 'ü'.repeat(3_000);
    const lines = ['Email,Notes'];
    for (let i = 0; i < 260; i++) lines.push(`p${i}@example.com,${big}${i}`);
    await uploadText(segments, 'Big/a.csv', [lines.join('\n')]);
    const result = await prepare({
      segments: ['Big'],
      mapping: { email: 'email', fields: [{ column: 'notes', fieldId: 12 }] },
    });
    const slices = await slicesOf(work, result.runFolder);
    const requests = slices.flatMap((s) => s.requests);
    // 260 contacts fit two requests by count; ~6 KB each forces four by bytes.
    expect(requests.length).toBeGreaterThanOrEqual(4);
    for (const r of requests) {
      expect(Buffer.byteLength(JSON.stringify(r.body))).toBe(r.bytes);
      expect(r.bytes).toBeLessThan(400_000);
      expect(r.contactCount).toBeLessThan(250);
    }
    expect(requests.reduce((n, r) => n + r.contactCount, 0)).toBe(260);
    expect(result.counts.requests).toBe(requests.length);
  });

  it('sends only changes on the next run and advances the snapshot only for confirmed contacts', async () => {
    const { segments, work, prepare } = await setup();
    await writePlainSegment(segments, 'Alpha', [{ rows: 100 }]);
    const first = await prepare({ segments: ['Alpha'], membership: 'mirror' });
    expect(first.counts).toMatchObject({ added: 100, toUpsert: 100 });
    const sent1 = contactsOf(await slicesOf(work, first.runFolder)).map((c) => c.email);
    await advanceExportSnapshot(work, { exportId: 'exp1', runId: 'run1', confirmedEmails: sent1 });

    // Next refresh: people 0..9 left, 10..19 renamed, 100..109 joined.
    await segments.deleteBlob('Alpha/part-00001.csv');
    await writePlainSegment(segments, 'Alpha', [
      { rows: 10, firstIndex: 10, nameSuffix: 'X' },
      { rows: 90, firstIndex: 20 },
    ]);
    const second = await prepare({ segments: ['Alpha'], membership: 'mirror', runId: 'run2' });
    expect(second.counts).toMatchObject({
      added: 10,
      changed: 10,
      unchanged: 80,
      removed: 10,
      toUpsert: 20,
      toUnsubscribe: 10,
    });
    const sent2 = contactsOf(await slicesOf(work, second.runFolder));
    const unsubscribed = sent2.filter((c) => c.unsubscribe);
    expect(unsubscribed.map((c) => c.email).sort()).toEqual(
      Array.from({ length: 10 }, (_, i) => fixtureEmail(i)).sort(),
    );
    expect(unsubscribed.every((c) => Object.keys(c).join() === 'email,unsubscribe')).toBe(true);
    // ActiveCampaign confirms only half of what run2 sent.
    const confirmed = sent2.filter((_, i) => i % 2 === 0).map((c) => c.email);
    await advanceExportSnapshot(work, { exportId: 'exp1', runId: 'run2', confirmedEmails: confirmed });

    const third = await prepare({ segments: ['Alpha'], membership: 'mirror', runId: 'run3' });
    const sent3 = contactsOf(await slicesOf(work, third.runFolder)).map((c) => c.email);
    const unconfirmed = sent2.filter((_, i) => i % 2 === 1).map((c) => c.email);
    expect(sent3.sort()).toEqual(unconfirmed.sort());

    const full = await prepare({ segments: ['Alpha'], runId: 'run4', fullResync: true });
    expect(full.counts.toUpsert).toBe(100);
  });

  it('stages the previous snapshot as the target, byte for byte, when nothing changed', async () => {
    const { segments, work, prepare } = await setup();
    await writePlainSegment(segments, 'Alpha', [{ rows: 50 }]);
    const first = await prepare({ segments: ['Alpha'], membership: 'mirror' });
    const sent = contactsOf(await slicesOf(work, first.runFolder)).map((c) => c.email);
    await advanceExportSnapshot(work, { exportId: 'exp1', runId: 'run1', confirmedEmails: sent });

    const second = await prepare({ segments: ['Alpha'], membership: 'mirror', runId: 'run2' });
    expect(second.counts).toMatchObject({ unchanged: 50, toUpsert: 0, toUnsubscribe: 0 });
    const previous = await readSnapshot(work, snapshotBlobName('exp1'));
    const target = await readSnapshot(work, second.targetSnapshotBlob);
    expect(target!.count).toBe(50);
    expect(Buffer.from(target!.emailBytes)).toEqual(Buffer.from(previous!.emailBytes));
    expect(Array.from(target!.contentLo)).toEqual(Array.from(previous!.contentLo));
    const [stored, staged] = await Promise.all([
      work.getBlobClient(snapshotBlobName('exp1')).downloadToBuffer(),
      work.getBlobClient(second.targetSnapshotBlob).downloadToBuffer(),
    ]);
    expect(staged.equals(stored)).toBe(true);

    // Advancing after a run that sent nothing keeps the same snapshot, so the next run still sends nothing.
    await advanceExportSnapshot(work, { exportId: 'exp1', runId: 'run2', confirmedEmails: [] });
    const third = await prepare({ segments: ['Alpha'], membership: 'mirror', runId: 'run3' });
    expect(third.counts).toMatchObject({ unchanged: 50, toUpsert: 0 });
  });

  it('fails as snapshot_corrupt when the stored snapshot is not gzip, is truncated or is not a snapshot', async () => {
    const { segments, work, prepare } = await setup();
    await writePlainSegment(segments, 'Alpha', [{ rows: 5 }]);
    const first = await prepare({ segments: ['Alpha'] });
    await advanceExportSnapshot(work, {
      exportId: 'exp1',
      runId: 'run1',
      confirmedEmails: contactsOf(await slicesOf(work, first.runFolder)).map((c) => c.email),
    });
    const good = await work.getBlobClient(snapshotBlobName('exp1')).downloadToBuffer();
    expect((await readSnapshot(work, snapshotBlobName('exp1')))!.count).toBe(5);
    for (const bad of [
      Buffer.from('not gzip at all'),
      good.subarray(0, good.length - 20),
      gzipSync(Buffer.from('ACSNAP99 nonsense')),
    ]) {
      await work.getBlockBlobClient(snapshotBlobName('exp1')).uploadData(bad);
      await expect(readSnapshot(work, snapshotBlobName('exp1'))).rejects.toMatchObject({
        code: 'snapshot_corrupt',
      });
    }
    expect(await readSnapshot(work, 'exports/none/snapshot.bin')).toBeUndefined();
  });

  it('stores large snapshots as several gzip members (emails deflated in parallel) and reads them back exactly', async () => {
    const work = await freshContainer('work');
    // ~9.3 MB of emails: three email members (one per started 4 MiB), after the stored hash tables.
    const builder = new SnapshotBuilder(250_000);
    for (let i = 0; i < 250_000; i++) {
      const email = `contact.number.${i}@example-${i % 1000}.com`;
      const { hi, lo } = hash64(email);
      builder.add(hi, lo, i, i * 7, email);
    }
    const empty = new SnapshotBuilder().build();
    /** The gzip members of a blob (Node writes 10-byte headers; each member ends with an 8-byte trailer). */
    const members = (blob: Buffer) => {
      let count = 0;
      for (let at = 0; at < blob.length; count++) {
        expect([blob[at], blob[at + 1]]).toEqual([0x1f, 0x8b]);
        at +=
          10 +
          (
            inflateRawSync(blob.subarray(at + 10), { info: true }) as unknown as {
              engine: { bytesWritten: number };
            }
          ).engine.bytesWritten +
          8;
      }
      return count;
    };
    for (const [name, snapshot, expectedMembers] of [
      ['unsorted', builder.buildUnsorted(), 4],
      ['sorted', SnapshotBuilder.of(builder.buildUnsorted()).build(), 4],
      ['empty', empty, 1],
    ] as const) {
      await writeSnapshot(work, `exports/${name}/snapshot.bin`, snapshot);
      const blob = await work.getBlobClient(`exports/${name}/snapshot.bin`).downloadToBuffer();
      expect(members(blob), name).toBe(expectedMembers);
      const back = await readSnapshot(work, `exports/${name}/snapshot.bin`);
      expect(back!.count, name).toBe(snapshot.count);
      // Read back sorted (an unsorted snapshot is sorted when decoded): the same as sorting the original.
      const sorted = snapshot.sorted ? snapshot : SnapshotBuilder.of(snapshot).build();
      expect(Buffer.from(encodeSnapshot(back!)).equals(Buffer.from(encodeSnapshot(sorted))), name).toBe(true);
    }
    const stored = await work.getBlobClient('exports/sorted/snapshot.bin').getProperties();
    expect(stored.contentLength).toBeLessThan(encodeSnapshot(empty).length + 250_000 * 20 + 3_000_000);
  });
});
