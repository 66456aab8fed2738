import { describe, expect, it } from 'vitest';

import { nfcStable, nfcStableText } from '../../../../shared/domain/segments/nfc';

const isSurrogate = (c: number) => c >= 0xd800 && c <= 0xdfff;
const bmp = Array.from({ length: 0x10000 }, (_, c) => c).filter((c) => !isSurrogate(c));

describe('nfcStable', () => {
  it('calls no code unit stable that NFC changes on its own (NFC_Quick_Check = No)', () => {
    const changed = bmp.filter(
      (c) => nfcStable(c) && String.fromCharCode(c).normalize('NFC') !== String.fromCharCode(c),
    );
    expect(changed).toEqual([]);
  });

  it('calls no code unit stable that can compose with what comes before it (NFC_Quick_Check = Maybe)', () => {
    // A character composes with a preceding one only as a later part of some canonical decomposition.
    const later = new Set<number>();
    for (let cp = 0; cp <= 0x10ffff; cp++) {
      if (isSurrogate(cp)) continue;
      const nfd = String.fromCodePoint(cp).normalize('NFD');
      for (let i = 1; i < nfd.length; i++) later.add(nfd.charCodeAt(i));
    }
    expect(later.size).toBeGreaterThan(100);
    expect(later.has(0x0301)).toBe(true);
    expect(later.has(0x1161)).toBe(true);
    expect([...later].filter((c) => nfcStable(c))).toEqual([]);
  });

  it('calls no code unit stable that has a non-zero combining class (canonical reordering moves it)', () => {
    // U+0345 has class 240, the largest there is: canonical reordering moves any class from 1 to 239 before
    // it, so NFD leaves the text as it is (apart from the unit's own decomposition) only for class 0.
    const moved = bmp.filter((c) => {
      if (!nfcStable(c)) return false;
      const unit = String.fromCharCode(c);
      return ('a\u0345' + unit).normalize('NFD') !== 'a\u0345' + unit.normalize('NFD');
    });
    expect(moved).toEqual([]);
    // The probe works: a class-230 mark moves before it, and so does a class-1 one.
    expect('a\u0345\u0301'.normalize('NFD')).toBe('a\u0301\u0345');
    expect('a\u0345\u0334'.normalize('NFD')).toBe('a\u0334\u0345');
  });

  it('calls the common letters of many scripts stable, and below U+0300 everything', () => {
    expect(bmp.filter((c) => c < 0x300 && !nfcStable(c))).toEqual([]);
    for (const text of [
      'Иванова',
      'Ольга',
      '王李',
      'Nguyễn Ngọc',
      'Παπαδόπουλος',
      '김민준',
      'שרה',
      'محمد',
      'कमल',
    ]) {
      expect(nfcStableText(text), text).toBe(true);
    }
  });

  it('does not call text stable that NFC changes', () => {
    for (const text of [
      'Rene\u0301', // e + combining acute → é
      '\u1100\u1161', // Hangul L + V jamo → 가
      '\uac00\u11a8', // Hangul LV syllable + T jamo → 각
      '\u212b', // ANGSTROM SIGN → Å
      '\u0958', // a composition exclusion (DEVANAGARI LETTER QA)
      'a\u0323\u0302', // marks out of order? (NFC reorders and composes)
      '\ud83d\ude00', // surrogates are left to normalize
    ]) {
      expect(nfcStableText(text), JSON.stringify(text)).toBe(false);
    }
    expect(nfcStableText('Rene\u0301'.normalize('NFC'))).toBe(true);
  });

  it('implies NFC for random text made of stable code units from many blocks', () => {
    const stable = bmp.filter((c) => c >= 0x300 && nfcStable(c));
    let seed = 7;
    const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
    for (let n = 0; n < 20_000; n++) {
      let text = '';
      for (let k = 1 + (next() % 8); k > 0; k--) {
        text +=
          next() % 3 === 0
            ? String.fromCharCode(0x20 + (next() % 0x2e0))
            : String.fromCharCode(stable[next() % stable.length]!);
      }
      expect(nfcStableText(text)).toBe(true);
      if (text.normalize('NFC') !== text) expect.fail(`not NFC: ${JSON.stringify(text)}`);
    }
  });
});
