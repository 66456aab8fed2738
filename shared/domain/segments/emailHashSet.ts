/**
 * An open-addressing hash map from 64-bit hashes to a non-negative int32 value, in typed arrays.
 * 1,000,000 keys take ~32 MB at the 0.5 load factor it keeps, instead of ~100 MB for a `Map<string, …>`.
 */

const EMPTY = -1;
/**
 * Int32 slots per entry: hi, lo, value + 1 (0: a free slot, so a new table needs no fill), padding (16 bytes:
 * one cache line holds a whole entry).
 */
const STRIDE = 4;

/** A compact map of 64-bit email hashes (as hi/lo halves) to a small integer (e.g. an entry index). */
export class HashIndex {
  /**
   * The entries side by side (`STRIDE` ints each) rather than three parallel arrays: a probe of a
   * million-key table is a cache miss, and this makes it one instead of three (this runs once per row).
   */
  private slots: Int32Array;
  private mask: number;
  /**
   * A key's home slot is the top bits of its mixed hash (`>>> shift`), not the low ones: then doubling the
   * table sends slot i's keys to slots 2i and 2i+1 (growing 2ᵏ-fold: 2ᵏi to 2ᵏi+2ᵏ−1), so `grow` reinserts
   * them in address order (sequential memory, not a cache miss per key).
   */
  private shift: number;
  private count = 0;

  constructor(expected = 1024) {
    let capacity = 16;
    while (capacity < expected * 2) capacity *= 2;
    this.slots = new Int32Array(capacity * STRIDE);
    this.mask = capacity - 1;
    this.shift = 32 - Math.log2(capacity);
  }

  /** Number of keys held. */
  get size(): number {
    return this.count;
  }

  /** The value stored for the key, or -1 when absent. */
  get(hi: number, lo: number): number {
    const slots = this.slots;
    let slot = (lo ^ Math.imul(hi, 0x9e3779b1)) >>> this.shift;
    for (;;) {
      const at = slot * STRIDE;
      const stored = slots[at + 2]!;
      if (stored === 0) return EMPTY;
      if (slots[at] === (hi | 0) && slots[at + 1] === (lo | 0)) return stored - 1;
      slot = (slot + 1) & this.mask;
    }
  }

  /** True when the key is present. */
  has(hi: number, lo: number): boolean {
    return this.get(hi, lo) !== EMPTY;
  }

  /** Stores `value` (≥ 0) for the key unless present; returns the existing value or -1 if it was added. */
  setIfAbsent(hi: number, lo: number, value: number): number {
    if ((this.count + 1) * 2 > this.mask + 1) this.grow();
    const slots = this.slots;
    let slot = (lo ^ Math.imul(hi, 0x9e3779b1)) >>> this.shift;
    for (;;) {
      const at = slot * STRIDE;
      const stored = slots[at + 2]!;
      if (stored === 0) {
        slots[at] = hi;
        slots[at + 1] = lo;
        slots[at + 2] = value + 1;
        this.count++;
        return EMPTY;
      }
      if (slots[at] === (hi | 0) && slots[at + 1] === (lo | 0)) return stored - 1;
      slot = (slot + 1) & this.mask;
    }
  }

  /** Makes room for `keys` keys in all without growing again (one rehash now instead of several later). */
  reserve(keys: number): void {
    let capacity = this.mask + 1;
    while (capacity < keys * 2) capacity *= 2;
    if (capacity > this.mask + 1) this.grow(capacity);
  }

  private grow(capacity = (this.mask + 1) * 2): void {
    const old = this.slots;
    this.slots = new Int32Array(capacity * STRIDE);
    this.mask = capacity - 1;
    this.shift = 32 - Math.log2(capacity);
    this.count = 0;
    for (let at = 0; at < old.length; at += STRIDE) {
      const stored = old[at + 2]!;
      if (stored !== 0) this.setIfAbsent(old[at]!, old[at + 1]!, stored - 1);
    }
  }
}
