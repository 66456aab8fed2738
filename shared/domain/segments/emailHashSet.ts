/**
 * An open-addressing hash map from 64-bit hashes to a non-negative int32 value, in typed arrays.
 * 1,000,000 keys take ~24 MB at the 0.5 load factor it keeps, instead of ~100 MB for a `Map<string, …>`.
 */

const EMPTY = -1;

/** A compact map of 64-bit email hashes (as hi/lo halves) to a small integer (e.g. an entry index). */
export class HashIndex {
  private his: Uint32Array;
  private los: Uint32Array;
  private values: Int32Array;
  private mask: number;
  private count = 0;

  constructor(expected = 1024) {
    let capacity = 16;
    while (capacity < expected * 2) capacity *= 2;
    this.his = new Uint32Array(capacity);
    this.los = new Uint32Array(capacity);
    this.values = new Int32Array(capacity).fill(EMPTY);
    this.mask = capacity - 1;
  }

  /** Number of keys held. */
  get size(): number {
    return this.count;
  }

  /** The value stored for the key, or -1 when absent. */
  get(hi: number, lo: number): number {
    let slot = (lo ^ Math.imul(hi, 0x9e3779b1)) & this.mask;
    for (;;) {
      const value = this.values[slot]!;
      if (value === EMPTY) return EMPTY;
      if (this.his[slot] === hi && this.los[slot] === lo) return value;
      slot = (slot + 1) & this.mask;
    }
  }

  /** True when the key is present. */
  has(hi: number, lo: number): boolean {
    return this.get(hi, lo) !== EMPTY;
  }

  /** Stores `value` (≥ 0) for the key unless present; returns the existing value or -1 if it was added. */
  setIfAbsent(hi: number, lo: number, value: number): number {
    if ((this.count + 1) * 2 > this.values.length) this.grow();
    let slot = (lo ^ Math.imul(hi, 0x9e3779b1)) & this.mask;
    for (;;) {
      const existing = this.values[slot]!;
      if (existing === EMPTY) {
        this.his[slot] = hi;
        this.los[slot] = lo;
        this.values[slot] = value;
        this.count++;
        return EMPTY;
      }
      if (this.his[slot] === hi && this.los[slot] === lo) return existing;
      slot = (slot + 1) & this.mask;
    }
  }

  private grow(): void {
    const { his, los, values } = this;
    const capacity = values.length * 2;
    this.his = new Uint32Array(capacity);
    this.los = new Uint32Array(capacity);
    this.values = new Int32Array(capacity).fill(EMPTY);
    this.mask = capacity - 1;
    this.count = 0;
    for (let i = 0; i < values.length; i++) {
      if (values[i] !== EMPTY) this.setIfAbsent(his[i]!, los[i]!, values[i]!);
    }
  }
}
