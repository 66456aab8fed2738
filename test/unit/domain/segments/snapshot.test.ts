import { describe, expect, it } from 'vitest';

import { hash64 } from '../../../../shared/domain/segments/hash64';
import {
  advanceSnapshot,
  decodeSnapshot,
  encodeSnapshot,
  type Snapshot,
  SnapshotBuilder,
} from '../../../../shared/domain/segments/snapshot';

function build(entries: [string, string][]): Snapshot {
  const b = new SnapshotBuilder();
  for (const [email, content] of entries) {
    const e = hash64(email);
    const c = hash64(content);
    b.add(e.hi, e.lo, c.hi, c.lo, email);
  }
  return b.build();
}

function contents(s: Snapshot): Record<string, number> {
  const out: Record<string, number> = {};
  for (let i = 0; i < s.count; i++) out[s.emailAt(i)] = s.contentLo[i]!;
  return out;
}

describe('snapshot', () => {
  it('round-trips through the binary layout when emails are Unicode', () => {
    const s = build([
      ['b@example.com', '1'],
      ['josé@exämple.de', '2'],
      ['a@example.com', '3'],
    ]);
    const back = decodeSnapshot(encodeSnapshot(s));
    expect(contents(back)).toEqual(contents(s));
    const h = hash64('josé@exämple.de');
    expect(back.emailAt(back.find(h.hi, h.lo))).toBe('josé@exämple.de');
    expect(back.find(1, 2)).toBe(-1);
  });

  it('sorts by the full 64-bit hash when high halves are equal', () => {
    const b = new SnapshotBuilder();
    const entries = [
      [5, 9],
      [1, 7],
      [5, 2],
      [0xffffffff, 0],
      [5, 0xffffffff],
      [1, 3],
    ] as const;
    entries.forEach(([hi, lo], i) => b.add(hi, lo, i, i, `e${i}@example.com`));
    const s = b.build();
    expect(Array.from(s.emailHi)).toEqual([1, 1, 5, 5, 5, 0xffffffff]);
    expect(Array.from(s.emailLo)).toEqual([3, 7, 2, 9, 0xffffffff, 0]);
    expect(s.emailAt(2)).toBe('e2@example.com');
    expect(s.find(5, 0xffffffff)).toBe(4);
  });

  it('orders hash halves given as int32s (as the pipeline passes them) by their unsigned value', () => {
    // 0x80000000 and 0xffffffff arrive as -2147483648 and -1: above 0x7fffffff, not below 0.
    const ascending = [
      [0x7fffffff, 0],
      [0x80000000 | 0, 0],
      [0x80000000 | 0, 0x80000000 | 0],
      [-1, 5],
    ] as const;
    const inOrder = new SnapshotBuilder();
    ascending.forEach(([hi, lo], i) => inOrder.add(hi, lo, i, i, `e${i}@example.com`));
    const sorted = inOrder.buildUnsorted();
    expect(sorted.sorted).toBe(true);
    expect(Array.from(sorted.emailHi)).toEqual([0x7fffffff, 0x80000000, 0x80000000, 0xffffffff]);
    expect(sorted.find(0x80000000, 0x80000000)).toBe(2);
    // The same entries in another order are known not to be sorted, and sorted when built.
    const shuffled = new SnapshotBuilder();
    [3, 0, 2, 1].forEach((i) => shuffled.add(ascending[i]![0], ascending[i]![1], i, i, `e${i}@example.com`));
    expect(shuffled.buildUnsorted().sorted).toBe(false);
    const built = shuffled.build();
    expect(Array.from(built.emailHi)).toEqual([0x7fffffff, 0x80000000, 0x80000000, 0xffffffff]);
    expect(Array.from(built.emailLo)).toEqual([0, 0, 0x80000000, 5]);
  });

  it("stores a run's entries unsorted (buildUnsorted) and sorts them when read back or merged", () => {
    const emails = Array.from({ length: 300 }, (_, i) => `u${(i * 7919) % 1000}@example.com`);
    const unsorted = new SnapshotBuilder();
    const sorted = new SnapshotBuilder();
    emails.forEach((email, i) => {
      const e = hash64(email);
      const c = hash64(String(i));
      unsorted.add(e.hi, e.lo, c.hi, c.lo, email);
      sorted.add(e.hi, e.lo, c.hi, c.lo, email);
    });
    const target = unsorted.buildUnsorted();
    expect(target.sorted).toBe(false);
    // Kept in the order the rows came, and refused for lookups until sorted.
    expect(Array.from({ length: 3 }, (_, i) => target.emailAt(i))).toEqual(emails.slice(0, 3));
    expect(() => target.find(1, 2)).toThrow(/unsorted snapshot cannot be searched/);
    const expected = sorted.build();
    const encoded = encodeSnapshot(target);
    expect(new TextDecoder().decode(encoded.subarray(0, 8))).toBe('ACSNAPU1');
    const back = decodeSnapshot(encoded);
    expect(back.sorted).toBe(true);
    expect(Buffer.from(encodeSnapshot(back))).toEqual(Buffer.from(encodeSnapshot(expected)));
    const h = hash64(emails[42]!);
    expect(back.emailAt(back.find(h.hi, h.lo))).toBe(emails[42]);
    // The finaliser's merge takes it as it is stored.
    const next = advanceSnapshot(build([]), target, () => true);
    expect(Buffer.from(encodeSnapshot(next))).toEqual(Buffer.from(encodeSnapshot(expected)));
  });

  it('rejects bytes that are not a snapshot', () => {
    expect(() => decodeSnapshot(new TextEncoder().encode('PNG not a snapshot'))).toThrow(/bad magic/);
    const good = encodeSnapshot(build([['a@example.com', '1']]));
    expect(() => decodeSnapshot(good.subarray(0, good.length - 3))).toThrow(/truncated/);
  });

  it('advances only confirmed contacts when confirmation is partial', () => {
    const previous = build([
      ['kept@example.com', 'same'],
      ['changed-ok@example.com', 'old'],
      ['changed-failed@example.com', 'old'],
      ['removed-ok@example.com', 'x'],
      ['removed-failed@example.com', 'x'],
    ]);
    const target = build([
      ['kept@example.com', 'same'],
      ['changed-ok@example.com', 'new'],
      ['changed-failed@example.com', 'new'],
      ['added-ok@example.com', 'n'],
      ['added-failed@example.com', 'n'],
    ]);
    const confirmed = new Set(['changed-ok@example.com', 'removed-ok@example.com', 'added-ok@example.com']);
    const next = advanceSnapshot(previous, target, (hi, lo) =>
      [...confirmed].some((e) => hash64(e).hi === hi && hash64(e).lo === lo),
    );
    const c = (text: string) => hash64(text).lo;
    expect(contents(next)).toEqual({
      'kept@example.com': c('same'),
      'changed-ok@example.com': c('new'),
      'changed-failed@example.com': c('old'),
      'removed-failed@example.com': c('x'),
      'added-ok@example.com': c('n'),
    });
  });

  it('builds the same snapshot from previous indexes as by sorting when entries are kept, added and dropped', () => {
    const emails = Array.from({ length: 500 }, (_, i) => `p${i}@example.com`);
    const previous = build(emails.slice(0, 300).map((e) => [e, 'old']));
    // Rows arrive in file order: some previous contacts (changed or not), some new, some gone.
    const rows = [...emails.slice(250, 500), ...emails.slice(0, 200).filter((_, i) => i % 3 !== 0)].reverse();
    const sorted = new SnapshotBuilder();
    const merged = new SnapshotBuilder();
    const previousIndex = new Int32Array(rows.length);
    rows.forEach((email, k) => {
      const e = hash64(email);
      const c = hash64(k % 2 ? 'new' : 'old');
      sorted.add(e.hi, e.lo, c.hi, c.lo, email);
      merged.add(e.hi, e.lo, c.hi, c.lo, email);
      previousIndex[k] = previous.find(e.hi, e.lo);
    });
    expect(previousIndex.filter((i) => i !== -1).length).toBe(183);
    expect(encodeSnapshot(merged.buildFrom(previousIndex, previous))).toEqual(encodeSnapshot(sorted.build()));
  });

  it('builds the same snapshot when known entries borrow their email from the previous snapshot', () => {
    const emails = Array.from({ length: 500 }, (_, i) => `p${i}@exämple.com`);
    const previous = build(emails.slice(0, 300).map((e) => [e, 'old']));
    const rows = [...emails.slice(250, 500), ...emails.slice(0, 200).filter((_, i) => i % 3 !== 0)].reverse();
    const sorted = new SnapshotBuilder();
    const borrowing = new SnapshotBuilder(10, 10);
    const previousIndex = new Int32Array(rows.length);
    rows.forEach((email, k) => {
      const e = hash64(email);
      const c = hash64(k % 2 ? 'new' : 'old');
      sorted.add(e.hi, e.lo, c.hi, c.lo, email);
      const at = previous.find(e.hi, e.lo);
      previousIndex[k] = at;
      if (at === -1) borrowing.add(e.hi, e.lo, c.hi, c.lo, email);
      else {
        expect(previous.sameContent(at, c.hi, c.lo)).toBe(k % 2 === 0);
        borrowing.addKnown(e.hi, e.lo, c.hi, c.lo);
      }
    });
    expect(encodeSnapshot(borrowing.buildFrom(previousIndex, previous))).toEqual(
      encodeSnapshot(sorted.build()),
    );
    expect(() => borrowing.build()).toThrow(/addKnown/);
  });
});
