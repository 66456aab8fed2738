/**
 * Which UTF-16 code units can never make a string differ from its Unicode NFC form, so that scans can skip
 * `String.prototype.normalize('NFC')` (an ICU call and a new string) for text made only of them: Cyrillic,
 * Greek, CJK, Hangul syllables, precomposed Vietnamese letters, … as well as everything below U+0300.
 *
 * By the NFC quick check (Unicode UAX #15 §9), a string whose characters all have Canonical_Combining_Class 0
 * and NFC_Quick_Check = Yes is in NFC. Those are the "stable" code units here. Rather than carrying Unicode's
 * tables, each 256-unit block is classified on first use with what the runtime itself knows (its ICU, which
 * `normalize` uses too):
 * - combining marks (`\p{M}`: every character with a non-zero combining class is Mn or Mc, and so are all the
 *   characters with NFC_Quick_Check = Maybe except the Hangul vowel and trailing-consonant jamo) are unstable;
 * - so are those jamo (U+1161–U+1175, U+11A8–U+11C2), which compose with a preceding syllable or jamo;
 * - so is any code unit that `normalize('NFC')` changes on its own (NFC_Quick_Check = No: singletons such as
 *   U+212B ANGSTROM SIGN, and composition exclusions);
 * - and surrogates (left to `normalize`).
 * test/unit/domain/segments/nfc.test.ts checks the classification against every BMP code unit and against
 * every code point's canonical decomposition.
 */

// A code unit's state: 0 until its block is classified, then one of these.
const STABLE = 1;
const UNSTABLE = 2;
/** The state of every BMP code unit, filled a block of 256 at a time. */
const states = new Uint8Array(0x10000);
const MARK = /^\p{M}$/u;

/** True when code unit `c` (0–0xFFFF) has combining class 0 and NFC_Quick_Check = Yes; see the module comment. */
export function nfcStable(c: number): boolean {
  const state = states[c];
  if (state === STABLE) return true;
  if (state === UNSTABLE) return false;
  classifyBlock(c & 0xff00);
  return states[c] === STABLE;
}

/** True when every code unit of `text` is `nfcStable`, so `text.normalize('NFC') === text`. */
export function nfcStableText(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x300 && !nfcStable(c)) return false;
  }
  return true;
}

function classifyBlock(from: number): void {
  for (let c = from; c < from + 0x100; c++) states[c] = classify(c) ? STABLE : UNSTABLE;
}

function classify(c: number): boolean {
  if (c >= 0xd800 && c <= 0xdfff) return false;
  if ((c >= 0x1161 && c <= 0x1175) || (c >= 0x11a8 && c <= 0x11c2)) return false;
  const text = String.fromCharCode(c);
  return !MARK.test(text) && text.normalize('NFC') === text;
}
