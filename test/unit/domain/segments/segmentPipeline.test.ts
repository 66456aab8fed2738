import { describe, expect, it, vi } from 'vitest';

import { ExportMapping, resolveColumns } from '../../../../shared/domain/segments/exportMapping';
import {
  isRejectedRow,
  ROW_INTS,
  rowEmailHi,
  rowEmailLo,
  rowPrevious,
  setRowEmailHash,
} from '../../../../shared/domain/segments/preparedRowLayout';
import type { RejectedRow } from '../../../../shared/domain/segments/rejectedRows';
import { DEFAULT_PACKING_LIMITS } from '../../../../shared/domain/segments/requestPacker';
import {
  type PreviousLookup,
  RowBatchWriter,
  RowPreparer,
} from '../../../../shared/domain/segments/rowPreparer';
import { type PipelineOptions, SegmentPipeline } from '../../../../shared/domain/segments/segmentPipeline';
import { encodeSnapshot, Snapshot, SnapshotBuilder } from '../../../../shared/domain/segments/snapshot';
import { LimitExceededError } from '../../../../shared/errors';

const mapping = ExportMapping.parse({
  email: 'email',
  firstName: 'first',
  fields: [{ column: 'score', fieldId: 9 }],
  tags: { fixed: ['segment-export'], column: 'tags', separator: ';' },
});
const HEADER = ['Email', 'First', 'Score', 'Tags'];

interface Contact {
  email: string;
  first_name?: string;
  tags?: string[];
  fields?: { id: number; value: string }[];
  subscribe?: unknown;
  unsubscribe?: unknown;
}

function run(
  files: [string, string[][]][],
  options: Partial<PipelineOptions> = {},
  onReject?: (row: RejectedRow) => void,
  /** Stage departures in batches of this many previous entries before `finish`. */
  departuresPerBatch?: number,
) {
  const contacts: Contact[] = [];
  const rejected: RejectedRow[] = [];
  const pipeline = new SegmentPipeline(
    {
      mapping,
      listId: 4,
      membership: 'add',
      fullResync: false,
      previous: Snapshot.empty(),
      profileCap: 1_000,
      packing: DEFAULT_PACKING_LIMITS,
      ...options,
    },
    {
      slice: (s) => {
        const parsed = JSON.parse(s.json) as { requests: { body: { contacts: Contact[] } }[] };
        for (const r of parsed.requests) contacts.push(...r.body.contacts);
      },
      reject: (r) => {
        rejected.push(r);
        onReject?.(r);
      },
    },
  );
  for (const [file, rows] of files) {
    pipeline.beginFile(file, resolveColumns(mapping, HEADER, file));
    rows.forEach((row, i) => pipeline.accept(row, i + 2));
  }
  let batches = 0;
  if (departuresPerBatch) while (pipeline.stageDepartures(departuresPerBatch)) batches++;
  const { counts, target } = pipeline.finish();
  return { contacts, rejected, counts, target, batches };
}

describe('SegmentPipeline', () => {
  it('maps, normalises and tags contacts when rows are valid', () => {
    const { contacts } = run([['a.csv', [[' Ann@Example.COM ', ' Ann ', '7', 'vip; gold ;vip']]]]);
    expect(contacts).toEqual([
      {
        email: 'ann@example.com',
        first_name: 'Ann',
        tags: ['segment-export', 'vip', 'gold'],
        fields: [{ id: 9, value: '7' }],
        subscribe: [{ listid: 4 }],
      },
    ]);
  });

  it('rejects every bad row with its reason, file and line, keeping the first occurrence of an email', () => {
    const { contacts, rejected, counts } = run([
      [
        's1/a.csv',
        [
          ['a@example.com', 'A', '', ''],
          ['', 'NoMail', '', ''],
          ['bad@', 'X', '', ''],
        ],
      ],
      [
        's1/b.csv',
        [
          ['A@EXAMPLE.com', 'Again', '', ''],
          ['short@example.com', 'only', 'three'],
        ],
      ],
      [
        's2/c.csv',
        [
          ['b@example.com', 'x'.repeat(300), '', ''],
          ['a@example.com', 'Third', '', ''],
        ],
      ],
    ]);
    expect(contacts.map((c) => c.email)).toEqual(['a@example.com']);
    expect(rejected.map((r) => [r.file, r.line, r.reason])).toEqual([
      ['s1/a.csv', 3, 'missing_email'],
      ['s1/a.csv', 4, 'invalid_email'],
      ['s1/b.csv', 2, 'duplicate'],
      ['s1/b.csv', 3, 'ragged_row'],
      ['s2/c.csv', 2, 'field_too_long'],
      ['s2/c.csv', 3, 'duplicate'],
    ]);
    expect(rejected[2]!.detail).toBe('same email as s1/a.csv line 2');
    expect(counts).toMatchObject({ rows: 7, contacts: 1, rejected: 6, rejectedByReason: { duplicate: 2 } });
  });

  it.each(['mirror', 'add'] as const)(
    'stages departures in batches exactly as all at once (%s mode), with a rejected row still holding its email',
    (membership) => {
      const people = Array.from({ length: 60 }, (_, i) => [`p${i}@example.com`, `P${i}`, '', '']);
      const first = run([['a.csv', people]]);
      // Half the people left; p1 is still there, in a row rejected for its tags (so it is held, not removed).
      const rows = people.filter((_, i) => i % 2 === 0);
      rows.push(['p1@example.com', 'P1', '', 'x'.repeat(300)]);
      const options = {
        previous: first.target,
        membership,
        packing: { ...DEFAULT_PACKING_LIMITS, maxContactsPerRequest: 4 },
      };
      const whole = run([['a.csv', rows]], options);
      const batched = run([['a.csv', rows]], options, undefined, 7);
      expect(batched.batches).toBe(8);
      expect(batched.contacts).toEqual(whole.contacts);
      expect(batched.counts).toEqual(whole.counts);
      expect(Buffer.from(encodeSnapshot(batched.target))).toEqual(Buffer.from(encodeSnapshot(whole.target)));
      expect(whole.counts).toMatchObject({ removed: 29, toUnsubscribe: membership === 'mirror' ? 29 : 0 });
      expect(whole.target.count).toBe(membership === 'mirror' ? 31 : 60);
    },
  );

  it('classifies added, changed, unchanged and removed against the snapshot, unsubscribing in mirror mode', () => {
    const first = run([
      [
        'a.csv',
        [
          ['keep@example.com', 'K', '', ''],
          ['change@example.com', 'C', '', ''],
          ['gone@example.com', 'G', '', ''],
        ],
      ],
    ]);
    const second = run(
      [
        [
          'a.csv',
          [
            ['keep@example.com', 'K', '', ''],
            ['change@example.com', 'C2', '', ''],
            ['new@example.com', 'N', '', ''],
          ],
        ],
      ],
      { previous: first.target, membership: 'mirror' },
    );
    expect(second.counts).toMatchObject({
      added: 1,
      changed: 1,
      unchanged: 1,
      removed: 1,
      toUpsert: 2,
      toUnsubscribe: 1,
    });
    expect(second.contacts).toEqual([
      expect.objectContaining({ email: 'change@example.com', first_name: 'C2' }),
      expect.objectContaining({ email: 'new@example.com' }),
      { email: 'gone@example.com', unsubscribe: [{ listid: 4 }] },
    ]);
    expect(second.target.count).toBe(3);
  });

  it('rejects repeats of known and new emails as duplicates naming the first row when the run is incremental', () => {
    const first = run([['a.csv', [['known@example.com', 'K', '', '']]]]);
    const second = run(
      [
        [
          'a.csv',
          [
            ['new@example.com', 'N', '', ''],
            ['known@example.com', 'K', '', ''],
          ],
        ],
        [
          'b.csv',
          [
            ['KNOWN@example.com', 'K2', '', ''],
            ['new@example.com', 'N2', '', ''],
          ],
        ],
      ],
      { previous: first.target, membership: 'mirror' },
    );
    expect(second.rejected.map((r) => [r.file, r.line, r.reason, r.detail])).toEqual([
      ['b.csv', 2, 'duplicate', 'same email as a.csv line 3'],
      ['b.csv', 3, 'duplicate', 'same email as a.csv line 2'],
    ]);
    expect(second.counts).toMatchObject({
      contacts: 2,
      added: 1,
      unchanged: 1,
      removed: 0,
      toUnsubscribe: 0,
    });
    expect(second.contacts.map((c) => c.email)).toEqual(['new@example.com']);
    expect(second.target.count).toBe(2);
  });

  it('keeps contacts that left in the snapshot and sends no unsubscribe when the mode is add', () => {
    const first = run([['a.csv', [['gone@example.com', 'G', '', '']]]]);
    const second = run([['a.csv', [['new@example.com', 'N', '', '']]]], { previous: first.target });
    expect(second.counts).toMatchObject({ removed: 1, toUnsubscribe: 0 });
    expect(second.contacts.map((c) => c.email)).toEqual(['new@example.com']);
    expect(second.target.count).toBe(2);
  });

  it('sends unchanged contacts too when a full resync is asked', () => {
    const first = run([['a.csv', [['keep@example.com', 'K', '', '']]]]);
    const second = run([['a.csv', [['keep@example.com', 'K', '', '']]]], {
      previous: first.target,
      fullResync: true,
    });
    expect(second.counts).toMatchObject({ unchanged: 1, toUpsert: 1 });
  });

  it('does not unsubscribe a contact whose row was rejected for a field other than its email', () => {
    const first = run([['a.csv', [['held@example.com', 'H', '', '']]]]);
    const second = run([['a.csv', [['held@example.com', 'y'.repeat(300), '', '']]]], {
      previous: first.target,
      membership: 'mirror',
    });
    expect(second.counts).toMatchObject({ removed: 0, toUnsubscribe: 0 });
    expect(second.target.count).toBe(1);
  });

  it('does not unsubscribe a contact whose row is ragged, even when the email moved out of its column', () => {
    const first = run([
      [
        'a.csv',
        [
          ['ann@example.com', 'Ann', '', ''],
          ['bob@example.com', 'Bob', '', ''],
        ],
      ],
    ]);
    const second = run(
      [
        [
          'a.csv',
          [
            ['ann@example.com', 'Ann', '', '', 'extra'],
            // A stray delimiter in front shifted the email into the name column.
            ['Bob', 'BOB@example.com', '', '', ''],
          ],
        ],
      ],
      { previous: first.target, membership: 'mirror' },
    );
    expect(second.rejected.map((r) => r.reason)).toEqual(['ragged_row', 'ragged_row']);
    expect(second.counts).toMatchObject({ removed: 0, toUnsubscribe: 0 });
    expect(second.contacts).toEqual([]);
    expect(second.target.count).toBe(2);
  });

  it('rejects a contact as contact_too_large when it alone cannot fit in a bulk request', () => {
    const { contacts, rejected, counts } = run([
      ['a.csv', [['big@example.com', 'B', 'x'.repeat(400_000), '']]],
    ]);
    expect(contacts).toEqual([]);
    expect(rejected.map((r) => [r.reason, r.line])).toEqual([['contact_too_large', 2]]);
    // Rejected, so not also counted as a contact.
    expect(counts).toMatchObject({ rows: 1, contacts: 0, rejected: 1, toUpsert: 0 });
  });

  it('throws LimitExceededError naming the count, the cap and the setting when there are more profiles than the cap', () => {
    const rows = Array.from({ length: 12 }, (_, i) => [`p${i}@example.com`, '', '', '']);
    expect(() => run([['a.csv', rows]], { profileCap: 10 })).toThrow(LimitExceededError);
    expect(() => run([['a.csv', rows]], { profileCap: 10 })).toThrow(
      /hold 12 unique valid profiles, more than the cap of 10 \(setting EXPORT_PROFILE_CAP\)/,
    );
  });

  it('stops reading at twice the cap, so a segment far too large cannot exhaust memory before the error', () => {
    const rows = Array.from({ length: 50 }, (_, i) => [`p${i}@example.com`, '', '', '']);
    expect(() => run([['a.csv', rows]], { profileCap: 10 })).toThrow(
      /hold more than 20 unique valid profiles \(reading stopped there\), more than the cap of 10 \(setting EXPORT_PROFILE_CAP\)/,
    );
  });

  it('does not count duplicates as profiles past the cap, and reports those of uncounted rows without a line', () => {
    const rows = [
      ...Array.from({ length: 12 }, (_, i) => `p${i}@example.com`),
      'p0@example.com',
      'p11@example.com',
    ];
    const rejected: string[] = [];
    expect(() =>
      run([['a.csv', rows.map((email) => [email, '', '', ''])]], { profileCap: 10 }, (r) =>
        rejected.push(`${r.line} ${r.reason} ${r.detail}`),
      ),
    ).toThrow(/hold 12 unique valid profiles, more than the cap of 10/);
    expect(rejected).toEqual([
      '14 duplicate same email as a.csv line 2',
      '15 duplicate same email as an earlier row (past the profile cap)',
    ]);
  });
});

describe('resolveColumns', () => {
  it('matches mapped columns case-insensitively and trimmed', () => {
    const c = resolveColumns(mapping, [' EMAIL', 'first', 'SCORE', 'Tags'], 'f.csv');
    expect(c).toMatchObject({
      email: 0,
      firstName: 1,
      tags: 3,
      fields: [{ index: 2, fieldId: 9 }],
      width: 4,
    });
  });

  it('fails naming the column and the file when a mapped column is missing', () => {
    expect(() => resolveColumns(mapping, ['Email', 'First', 'Tags'], 'seg/f.csv')).toThrow(
      /seg\/f\.csv: mapped custom field 9 column "score" is not in the file/,
    );
  });
});

describe('64-bit hash collisions', () => {
  const cols = resolveColumns(mapping, HEADER, 'a.csv');
  const options = {
    mapping,
    listId: 4,
    fullResync: false,
    packing: DEFAULT_PACKING_LIMITS,
  };

  it('rejects a row whose hash matches a snapshot entry with another email, instead of passing for that contact', () => {
    // A snapshot that "finds" every hash at entry 0, which holds another address.
    const snapshot = new SnapshotBuilder();
    snapshot.add(1, 2, 3, 4, 'someone.else@example.com');
    const previous = snapshot.build();
    const lookup: PreviousLookup = {
      count: 1,
      find: () => 0,
      sameContent: () => true,
      sameEmail: (i, e) => previous.sameEmail(i, e),
    };
    const preparer = new RowPreparer(options, lookup);
    preparer.begin(cols);
    const out = new RowBatchWriter();
    preparer.prepare(['Ann@Example.com', 'Ann', '', ''], 7, out);
    preparer.prepare(['someone.else@example.com', 'S', '', ''], 8, out);
    const batch = out.take();
    expect(batch.notes).toEqual([
      expect.objectContaining({
        reason: 'hash_collision',
        rawEmail: 'Ann@Example.com',
        held: expect.any(Array) as unknown,
      }),
    ]);
    expect(isRejectedRow(batch.ints, 0)).toBe(true);
    // The real owner of the snapshot entry is found as itself.
    expect(isRejectedRow(batch.ints, ROW_INTS)).toBe(false);
    expect(rowPrevious(batch.ints, ROW_INTS)).toBe(0);
  });

  it('rejects the second of two different emails with the same hash in one run as hash_collision, not duplicate', () => {
    const rejected: RejectedRow[] = [];
    const pipeline = new SegmentPipeline(
      { ...options, membership: 'add', previous: Snapshot.empty(), profileCap: 100 },
      { slice: () => undefined, reject: (r) => rejected.push(r) },
    );
    pipeline.beginFile('a.csv', cols);
    const preparer = new RowPreparer(options, Snapshot.empty());
    preparer.begin(cols);
    const out = new RowBatchWriter();
    preparer.prepare(['a@example.com', '', '', ''], 2, out);
    preparer.prepare(['b@example.com', '', '', ''], 3, out);
    preparer.prepare(['a@example.com', '', '', ''], 4, out);
    const batch = out.take();
    // Give row 2 (b@) the hash of row 1 (a@): a collision the 64-bit hash makes about 1e-8 likely per run.
    setRowEmailHash(batch.ints, ROW_INTS, rowEmailHi(batch.ints, 0), rowEmailLo(batch.ints, 0));
    pipeline.acceptBatch(batch);
    expect(rejected.map((r) => [r.line, r.email, r.reason])).toEqual([
      [3, 'b@example.com', 'hash_collision'],
      [4, 'a@example.com', 'duplicate'],
    ]);
    expect(pipeline.finish().counts).toMatchObject({
      contacts: 1,
      rejectedByReason: { hash_collision: 1, duplicate: 1 },
    });
  });

  it('compares a snapshot email with the row email exactly, ASCII or not', () => {
    const builder = new SnapshotBuilder();
    builder.add(1, 1, 0, 0, 'zoë@exämple.de');
    builder.add(2, 2, 0, 0, 'ann@example.com');
    const snap = builder.build();
    expect(snap.sameEmail(0, 'zoë@exämple.de')).toBe(true);
    expect(snap.sameEmail(0, 'zoe@example.de')).toBe(false);
    expect(snap.sameEmail(1, 'ann@example.com')).toBe(true);
    expect(snap.sameEmail(1, 'ann@example.co')).toBe(false);
    expect(snap.sameEmail(1, 'ann@exämple.com')).toBe(false);
  });
});

describe('SegmentPipeline.expect', () => {
  it('sizes the tables from a sample batch, never past the profile cap however large the input', () => {
    const cols = resolveColumns(mapping, HEADER, 'a.csv');
    const options = { mapping, listId: 4, fullResync: false, packing: DEFAULT_PACKING_LIMITS };
    const preparer = new RowPreparer(options, Snapshot.empty());
    preparer.begin(cols);
    const out = new RowBatchWriter();
    for (let i = 0; i < 40; i++) preparer.prepare([`p${i}@example.com`, 'A', '1', ''], i + 2, out);
    preparer.prepare(['not an email', 'B', '', ''], 42, out);
    const batch = out.take(41);
    const reserved = vi.spyOn(SnapshotBuilder.prototype, 'reserve');
    /** A pipeline that has accepted the sample batch. */
    const afterSample = (profileCap: number) => {
      const pipeline = new SegmentPipeline(
        { ...options, membership: 'add', previous: Snapshot.empty(), profileCap },
        { slice: () => undefined, reject: () => undefined },
      );
      pipeline.beginFile('a.csv', cols);
      pipeline.acceptBatch(batch);
      return pipeline;
    };
    const pipeline = afterSample(100);
    // A terabyte more of the same: 40 contacts per 2,000 bytes would be 2·10¹⁰ contacts; the cap is 100.
    pipeline.expect(1e12, batch, 2000);
    expect(reserved).toHaveBeenCalledTimes(1);
    const [entries, emailBytes] = reserved.mock.calls[0]!;
    expect(entries).toBe(100);
    // 40 emails in the table, room for 60 more of the sample's length (14–15 bytes each).
    expect(emailBytes).toBeGreaterThanOrEqual(40 * 14 + 60 * 14);
    expect(emailBytes).toBeLessThanOrEqual(100 * 15);
    // A modest remainder is scaled from the sample (5% over): 2,000 more bytes → 42 more contacts.
    reserved.mockClear();
    afterSample(1_000_000).expect(2000, batch, 2000);
    expect(reserved.mock.calls[0]![0]).toBe(40 + 42);
    reserved.mockRestore();
  });
});
