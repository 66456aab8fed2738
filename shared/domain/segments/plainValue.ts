/**
 * The plain path's one scan of a value: checked (would no normaliser change it, and does JSON write it
 * without escapes?), mixed into the content hash and written as a JSON string, all at once. See
 * `RowPreparer.preparePlain` (rowPreparer.ts), its only user.
 */
import type { Hasher64 } from './hash64';
import * as hashing from './hash64';
import { nfcStable } from './nfc';

// Module-level copies of imported constants for the hot loops: see hash64.ts.
const { MUL1, MUL2, SEPARATOR } = hashing;

/** Fixed tags the plain path writes as they are (`plainValue` without the name rule, at most 255). */
const PLAIN_TAG = /^(?=.{1,255}$)[!#-[\]-~](?:[ !#-[\]-~]*[!#-[\]-~])?$/;
export { PLAIN_TAG };

/**
 * One scan of a "plain" value, which normaliseText / normaliseName leave as it is and JSON.stringify writes
 * without escapes: no control character, `"`, `\\`, NBSP or other Unicode space, no surrogate (emoji are
 * left to the general path too), no space at either end, for a name no two spaces in a row, and NFC already
 * (checked with `normalize` only when a code unit is not `nfcStable`: a combining mark, say).
 * Mixes it into `hasher` as `update` does and, unless empty, writes it at `p` as a JSON string (UTF-8) when
 * given `bytes`. Returns the position after it (`p` when not writing), or -1 when the value is not plain
 * (bytes written then do not count).
 */
export function plainValue(
  value: string,
  name: boolean,
  hasher: Hasher64,
  bytes: Uint8Array | undefined,
  p: number,
): number {
  const n = value.length;
  let h1 = hasher.h1;
  let h2 = hasher.h2;
  if (n !== 0) {
    if (value.charCodeAt(0) === 0x20 || value.charCodeAt(n - 1) === 0x20) return -1;
    if (bytes) bytes[p++] = 0x22;
    let space = false;
    let unstable = false;
    for (let i = 0; i < n; i++) {
      const c = value.charCodeAt(i);
      if (c < 0x80) {
        if (c < 0x20 || c === 0x22 || c === 0x5c || c === 0x7f) return -1;
        if (c === 0x20) {
          if (space && name) return -1;
          space = true;
        } else space = false;
        if (bytes) bytes[p++] = c;
      } else if (c < 0x800) {
        // C1 controls and NBSP (trimmed, collapsed) are left to the general path.
        if (c <= 0xa0) return -1;
        if (c >= 0x300 && !nfcStable(c)) unstable = true;
        space = false;
        if (bytes) {
          bytes[p++] = 0xc0 | (c >> 6);
          bytes[p++] = 0x80 | (c & 0x3f);
        }
      } else {
        if ((c >= 0xd800 && c <= 0xdfff) || isWideSpace(c)) return -1;
        if (!nfcStable(c)) unstable = true;
        space = false;
        if (bytes) {
          bytes[p++] = 0xe0 | (c >> 12);
          bytes[p++] = 0x80 | ((c >> 6) & 0x3f);
          bytes[p++] = 0x80 | (c & 0x3f);
        }
      }
      h1 = Math.imul(h1 ^ c, MUL1);
      h2 = Math.imul(h2 ^ c, MUL2);
    }
    if (unstable && value.normalize('NFC') !== value) return -1;
    if (bytes) bytes[p++] = 0x22;
  }
  hasher.h1 = Math.imul(h1 ^ SEPARATOR, MUL1);
  hasher.h2 = Math.imul(h2 ^ SEPARATOR, MUL2);
  return p;
}

/** The JS whitespace (`\\s`, what `trim` removes) from U+0800 on: Zs, BOM, line and paragraph separators. */
function isWideSpace(c: number): boolean {
  return (
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000 ||
    c === 0xfeff
  );
}

/** True when every code unit of `text` is ASCII. */
export function isAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0x7f) return false;
  return true;
}

/** Copies `piece` to `bytes` at `p` (nothing without `bytes`); returns the position after it. */
export function put(bytes: Uint8Array | undefined, p: number, piece: Uint8Array): number {
  if (!bytes) return p;
  // `set` beats a loop here even for these short pieces (bench/results/pipeline.md, "Figures behind the code").
  bytes.set(piece, p);
  return p + piece.length;
}
