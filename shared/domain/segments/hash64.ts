/**
 * A fast, non-cryptographic 64-bit string hash, returned as two unsigned 32-bit halves.
 *
 * Why not `node:crypto`: hashing 1,000,000 emails plus 1,000,000 contact bodies per run through
 * `createHash` costs seconds of object churn; this loop costs milliseconds. Why 64 bits: with n = 1e6
 * keys the birthday bound n²/2⁶⁵ gives a collision chance of about 3·10⁻⁸ per run, which is what makes
 * compact dedupe state and snapshots (16 bytes per contact) safe.
 * The mixing is cyrb53's (two multiplicative lanes cross-mixed at the end, public domain, bryc/code),
 * kept at the full 2×32 bits instead of truncating to 53.
 */

/** Two unsigned 32-bit halves of a 64-bit hash. */
export interface Hash64 {
  hi: number;
  lo: number;
}

/**
 * The two lanes' seeds and per-code-unit multipliers (`h = Math.imul(h ^ unit, MUL)`), exported for callers
 * that fuse hashing into another pass over the same text (contact.ts `plainEmail`, rowPreparer.ts's
 * plain path); `hash64` and `Hasher64` are the definition.
 */
const SEED1 = 0xdeadbeef;
const SEED2 = 0x41c6ce57;
const MUL1 = 2654435761;
const MUL2 = 1597334677;

/** Hashes `text` (its UTF-16 code units) into 64 bits; `out` is reused to avoid allocation. */
export function hash64(text: string, out: Hash64 = { hi: 0, lo: 0 }): Hash64 {
  let h1 = SEED1;
  let h2 = SEED2;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, MUL1);
    h2 = Math.imul(h2 ^ ch, MUL2);
  }
  return finalMix(h1, h2, out);
}

/** The avalanche step both hashes end with, written into `out`. */
export function finalMix(h1: number, h2: number, out: Hash64): Hash64 {
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507);
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  out.hi = h2 >>> 0;
  out.lo = h1 >>> 0;
  return out;
}

/** The code unit `Hasher64.update` mixes in after each text. */
const SEPARATOR = 1;

/*
 * Why these constants (and the other modules' hot-loop constants) are declared and then exported in a list:
 * TypeScript's CommonJS output turns every read of an `export const`, in its own module too, into a read of
 * `exports.NAME`, and of an imported one into `module_1.NAME`. Those properties are first set to `undefined`
 * and then to the value, so V8 treats them as mutable and cannot fold them into the optimised loop: each
 * read is a load (and, for a multiplier above 2³¹, an unboxing) per code unit. A local `const` folds. Modules
 * that import such constants into hot loops copy them into module-level constants once (`const { … } =
 * module`). The measured effect is in bench/results/pipeline.md ("Figures behind the code").
 */
export { MUL1, MUL2, SEED1, SEED2, SEPARATOR };

/** A 64-bit hash over several strings (each followed by a separator), with no concatenation. */
export class Hasher64 {
  /** The two lanes: public for callers that fuse hashing into another scan of the text (rowPreparer.ts). */
  h1 = SEED1;
  h2 = SEED2;

  /** Starts over. */
  reset(): this {
    this.h1 = SEED1;
    this.h2 = SEED2;
    return this;
  }

  /** Mixes in `text` and a separator (U+0001) so ("ab","c") and ("a","bc") differ. */
  update(text: string): this {
    let h1 = this.h1;
    let h2 = this.h2;
    for (let i = 0; i < text.length; i++) {
      const ch = text.charCodeAt(i);
      h1 = Math.imul(h1 ^ ch, MUL1);
      h2 = Math.imul(h2 ^ ch, MUL2);
    }
    this.h1 = Math.imul(h1 ^ SEPARATOR, MUL1);
    this.h2 = Math.imul(h2 ^ SEPARATOR, MUL2);
    return this;
  }

  /** Finishes into `out` (same final mix as `hash64`). */
  digest(out: Hash64): Hash64 {
    return finalMix(this.h1, this.h2, out);
  }
}
