import { afterEach, describe, expect, it, vi } from 'vitest';

import { seededRandom as random } from '../../../../dev/sandbox/random';
import { ExportMapping, resolveColumns } from '../../../../shared/domain/segments/exportMapping';
import {
  isRejectedRow,
  isUnchangedRow,
  ROW_INTS,
  rowContentHi,
  rowContentLo,
  rowEmailEnd,
  rowEmailHi,
  rowEmailLo,
  rowEmailStart,
} from '../../../../shared/domain/segments/preparedRowLayout';
import { DEFAULT_PACKING_LIMITS } from '../../../../shared/domain/segments/requestPacker';
import { type RowBatch, RowBatchWriter, RowPreparer } from '../../../../shared/domain/segments/rowPreparer';
import { Snapshot, SnapshotBuilder } from '../../../../shared/domain/segments/snapshot';

// Values the plain path takes, and values it must leave to the general path (each for its own reason).
const PLAIN = [
  'Ann',
  'Mary Ann',
  "O'Brien",
  'x',
  'A-B.C',
  '+1 555 0100',
  '~!#$%&*',
  'Zürich',
  'Kraków',
  'Łukasz Đorđe',
  'Ngọc',
  '李',
  'Ольга',
  'Yılmaz',
];
const NOT_PLAIN = [
  ' lead',
  'trail ',
  'two  spaces',
  'tab\there',
  'line\nbreak',
  'quote"d',
  'back\\slash',
  'e\u0301',
  'Ange\u0301lique',
  '\u00a0nbsp',
  'in\u00a0side',
  'wide\u3000space',
  '\u3000lead',
  'trail\u2003',
  'a \u3000b',
  '\u2028',
  'bom\ufeff',
  'c1\u0085',
  'del\x7f',
  'ctl\x01',
  '   ',
  'x'.repeat(256),
  '😀',
  'lone\ud800',
];
const PLAIN_EMAILS = [
  'ann@example.com',
  'a.b+c@sub.example.org',
  'x_y@d-e.co',
  "o'brien@example.ie",
  'z@z.io',
  'zoë@exämple.de',
  'x@bücher.de',
  'ǆ@example.com',
];
const OTHER_EMAILS = [
  'Ann@Example.com',
  ' ann@example.com',
  '\tBo@Example.ORG\r',
  '  ',
  'ann@example.com ',
  '',
  'bad',
  'a@b',
  'a@b.c',
  'a@@b.com',
  'a@b@c.com',
  '@b.com',
  'a@.b.com',
  'a@b..com',
  'a@b.com.',
  'a@b.c0m',
  'a"b@c.com',
  'a(b@c.com',
  'a b@c.com',
  'ZOË@example.com',
  'ǅ@example.com',
  'İx@example.com',
  'σ@example.com',
  'a\u00a0b@c.com',
  'a@b.cöm',
  'e\u0301@example.com',
  `${'x'.repeat(250)}@e.com`,
  'a.@b.com',
];

function pick<T>(next: () => number, values: readonly T[]): T {
  return values[Math.floor(next() * values.length)]!;
}

function value(next: () => number): string {
  const r = next();
  if (r < 0.15) return '';
  if (r < 0.9) return pick(next, PLAIN);
  return pick(next, NOT_PLAIN);
}

function email(next: () => number): string {
  const r = next();
  if (r < 0.5)
    return `${pick(next, ['ann', 'bo', 'c.d', 'e+f', 'g_h'])}${Math.floor(next() * 300)}@example.com`;
  if (r < 0.75) return pick(next, PLAIN_EMAILS);
  return pick(next, OTHER_EMAILS);
}

const HEADER = ['Email', 'First', 'Last', 'Phone', 'City', 'Score', 'Tags'];

function rows(seed: number, count: number): string[][] {
  const next = random(seed);
  const out: string[][] = [];
  for (let i = 0; i < count; i++) {
    const row = [email(next), value(next), value(next), value(next), value(next), value(next), value(next)];
    // Now and then a ragged row (a stray delimiter), which only the general path handles.
    if (next() < 0.03) row.push('extra');
    out.push(row);
  }
  return out;
}

function prepareAll(preparer: RowPreparer, input: string[][]): RowBatch {
  const out = new RowBatchWriter();
  input.forEach((fields, i) => preparer.prepare(fields, i + 2, out));
  return out.take(input.length);
}

/** Last run's snapshot: what the general path made of `input`'s contacts (their content hashes too). */
function snapshotOf(batch: RowBatch): Snapshot {
  const builder = new SnapshotBuilder();
  const seen = new Set<string>();
  const decoder = new TextDecoder();
  for (let r = 0; r < batch.rows * ROW_INTS; r += ROW_INTS) {
    if (isRejectedRow(batch.ints, r)) continue;
    const email = decoder.decode(
      batch.bytes.subarray(rowEmailStart(batch.ints, r), rowEmailEnd(batch.ints, r)),
    );
    if (seen.has(email)) continue;
    seen.add(email);
    const { ints } = batch;
    builder.add(
      rowEmailHi(ints, r) >>> 0,
      rowEmailLo(ints, r) >>> 0,
      rowContentHi(ints, r) >>> 0,
      rowContentLo(ints, r) >>> 0,
      email,
    );
  }
  return builder.build();
}

const NAMES_PHONE_FIELDS = {
  email: 'Email',
  firstName: 'First',
  lastName: 'Last',
  phone: 'Phone',
  fields: [
    { column: 'City', fieldId: 3 },
    { column: 'Score', fieldId: 11 },
  ],
};

const CASES: { name: string; mapping: unknown; maxBodyBytes?: number; plain: boolean }[] = [
  { name: 'names, phone and two custom fields', mapping: NAMES_PHONE_FIELDS, plain: true },
  // Requests so small that many contacts cannot fit one: the general path rejects those (contact_too_large).
  { name: 'contacts too large for a request', mapping: NAMES_PHONE_FIELDS, maxBodyBytes: 210, plain: true },
  {
    name: 'fixed tags',
    mapping: { email: 'Email', firstName: 'First', tags: { fixed: ['VIP', 'spring  2026'] } },
    plain: true,
  },
  { name: 'email only', mapping: { email: 'Email' }, plain: true },
  {
    name: 'a fixed tag JSON must escape',
    mapping: { email: 'Email', lastName: 'Last', tags: { fixed: ['say "hi"'] } },
    plain: false,
  },
  {
    name: 'a tag column',
    mapping: { email: 'Email', firstName: 'First', tags: { column: 'Tags', fixed: ['VIP'] } },
    plain: false,
  },
];

describe('RowPreparer: the plain path gives the general path result, byte for byte', () => {
  afterEach(() => vi.restoreAllMocks());

  for (const { name, mapping: raw, maxBodyBytes, plain } of CASES) {
    for (const fullResync of [false, true]) {
      it(`${name}${fullResync ? ', full resync' : ''}`, () => {
        const mapping = ExportMapping.parse(raw);
        const columns = resolveColumns(mapping, HEADER, 'seg/a.csv');
        const packing = { ...DEFAULT_PACKING_LIMITS, ...(maxBodyBytes ? { maxBodyBytes } : {}) };
        const options = { mapping, listId: 7, fullResync, packing };
        const make = (previous: Snapshot, plain: boolean) => {
          const preparer = new RowPreparer(options, previous);
          preparer.plainRows = plain;
          preparer.begin(columns);
          return preparer;
        };
        // Last run: the general path's result over one set of rows. This run: half of those rows again
        // (unchanged, or with one value changed) and new ones, so known, changed and new contacts all occur.
        const before = rows(1, 1500);
        const previous = snapshotOf(prepareAll(make(Snapshot.empty(), false), before));
        const next = random(2);
        const input = before
          .filter(() => next() < 0.5)
          .map((row) => (next() < 0.3 ? [row[0]!, value(next), ...row.slice(2)] : row))
          .concat(rows(3, 1500));

        const plainCalls = vi.spyOn(
          RowPreparer.prototype as unknown as { preparePlain: () => boolean },
          'preparePlain',
        );
        const general = prepareAll(make(previous, false), input);
        expect(plainCalls).not.toHaveBeenCalled();
        const fused = prepareAll(make(previous, true), input);
        const taken = plainCalls.mock.results.filter((r) => r.value === true).length;

        expect(Buffer.from(fused.json).toString()).toBe(Buffer.from(general.json).toString());
        expect(Buffer.from(fused.bytes).equals(Buffer.from(general.bytes))).toBe(true);
        expect([...fused.ints]).toEqual([...general.ints]);
        expect(fused.notes).toEqual(general.notes);
        expect(fused.rows).toBe(input.length);
        if (maxBodyBytes) {
          const tooLarge = general.notes.filter((n) => n.reason === 'contact_too_large').length;
          expect(tooLarge).toBeGreaterThan(100);
        }
        if (!plain) {
          expect(taken).toBe(0);
        } else {
          // Most rows really took the plain path (else this compares the general path with itself).
          expect(taken).toBeGreaterThan(input.length / 5);
          // …and some did not.
          expect(plainCalls.mock.results.length - taken).toBeGreaterThan(input.length / 10);
        }
        // Unchanged rows (no JSON unless resyncing) and sent rows both occurred: both outcomes were compared.
        const kinds = Array.from({ length: general.rows }, (_, i) => {
          const r = i * ROW_INTS;
          if (isRejectedRow(general.ints, r)) return 'rejected';
          return isUnchangedRow(general.ints, r) ? 'unchanged' : 'sent';
        });
        expect(kinds.filter((k) => k === 'unchanged').length).toBeGreaterThan(100);
        expect(kinds.filter((k) => k === 'sent').length).toBeGreaterThan(100);
        expect(general.json.length).toBeGreaterThan(0);
      });
    }
  }

  it('leaves an email whose hash the previous snapshot holds for another address to the general path', () => {
    const mapping = ExportMapping.parse(NAMES_PHONE_FIELDS);
    const builder = new SnapshotBuilder();
    builder.add(1, 2, 3, 4, 'someone.else@example.com');
    const other = builder.build();
    // Every hash "found" at entry 0, which holds another address: each row is a hash collision.
    const lookup = {
      count: 1,
      find: () => 0,
      sameContent: () => true,
      sameEmail: (i: number, e: string) => other.sameEmail(i, e),
    };
    const prepared = [true, false].map((plain) => {
      const preparer = new RowPreparer(
        { mapping, listId: 7, fullResync: false, packing: DEFAULT_PACKING_LIMITS },
        lookup,
      );
      preparer.plainRows = plain;
      preparer.begin(resolveColumns(mapping, HEADER, 'seg/a.csv'));
      return prepareAll(preparer, [['ann@example.com', 'Ann', 'Lee', '', '', '', '']]);
    });
    expect(prepared[0]!.notes).toEqual([expect.objectContaining({ reason: 'hash_collision' })]);
    expect(prepared[0]).toEqual(prepared[1]);
  });
});
