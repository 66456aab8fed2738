import { afterEach, describe, expect, it, vi } from 'vitest';

import { HashIndex } from '../../../../shared/domain/segments/emailHashSet';
import { hash64 } from '../../../../shared/domain/segments/hash64';

describe('HashIndex', () => {
  it('maps every key to its first value through many doublings, like a Map, for unsigned and signed halves', () => {
    const index = new HashIndex(4);
    const reference = new Map<string, number>();
    const h = { hi: 0, lo: 0 };
    for (let i = 0; i < 50_000; i++) {
      // Every fifth key repeats an earlier one; a few share a high or low half with another key.
      const key = i % 5 === 4 ? `person${i >> 1}@example.com` : `person${i}@example.com`;
      hash64(key, h);
      const lo = i % 97 === 0 ? 0 : h.lo;
      const hi = i % 89 === 0 ? 0xffffffff : h.hi;
      const id = `${hi}:${lo}`;
      const expected = reference.has(id) ? reference.get(id)! : -1;
      if (expected === -1) reference.set(id, i);
      // Callers pass unsigned halves (`>>> 0`); a signed view of the same bits is the same key.
      const got = i % 2 ? index.setIfAbsent(hi, lo, i) : index.setIfAbsent(hi | 0, lo | 0, i);
      expect(got).toBe(expected);
    }
    expect(index.size).toBe(reference.size);
    for (const [id, value] of reference) {
      const [hi, lo] = id.split(':').map(Number) as [number, number];
      expect(index.get(hi, lo)).toBe(value);
      expect(index.has(hi, lo)).toBe(true);
    }
    expect(index.get(1, 2)).toBe(-1);
    expect(index.has(0x12345678, 0x9abcdef0)).toBe(false);
  });

  it('stores 0 as a value (not mistaken for a free slot)', () => {
    const index = new HashIndex();
    expect(index.setIfAbsent(7, 9, 0)).toBe(-1);
    expect(index.setIfAbsent(7, 9, 5)).toBe(0);
    expect(index.get(7, 9)).toBe(0);
  });

  describe('reserve', () => {
    afterEach(() => vi.restoreAllMocks());

    it('keeps every key, then holds that many keys without growing again', () => {
      const index = new HashIndex(4);
      const h = { hi: 0, lo: 0 };
      const key = (i: number) => hash64(`person${i}@example.com`, h);
      for (let i = 0; i < 1000; i++) index.setIfAbsent(key(i).hi, key(i).lo, i);
      index.reserve(20_000);
      const grow = vi.spyOn(HashIndex.prototype as unknown as { grow: () => void }, 'grow');
      for (let i = 0; i < 20_000; i++) {
        const { hi, lo } = key(i);
        expect(index.setIfAbsent(hi, lo, i)).toBe(i < 1000 ? i : -1);
      }
      expect(grow).not.toHaveBeenCalled();
      expect(index.size).toBe(20_000);
      for (let i = 0; i < 20_000; i += 7) expect(index.get(key(i).hi, key(i).lo)).toBe(i);
      // Past what was reserved (rounded up to a power of two) it grows as before.
      for (let i = 20_000; i < 40_000; i++) index.setIfAbsent(key(i).hi, key(i).lo, i);
      expect(grow).toHaveBeenCalledTimes(1);
      expect(index.get(key(35_000).hi, key(35_000).lo)).toBe(35_000);
      expect(index.get(key(500).hi, key(500).lo)).toBe(500);
      // Reserving less than it holds changes nothing.
      grow.mockClear();
      index.reserve(10);
      expect(grow).not.toHaveBeenCalled();
    });
  });
});
