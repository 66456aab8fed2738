import { describe, expect, it } from 'vitest';

import {
  bulkContactJson,
  emailProblem,
  normaliseEmail,
  normaliseName,
  normaliseText,
  toBulkContact,
  utf8Length,
} from '../../../../shared/domain/segments/contact';

describe('emailProblem', () => {
  it.each(['a@example.com', 'first.last+tag@sub.example.co.uk', 'josé@exämple.de', "o'brien@example.org"])(
    'accepts %s',
    (email) => {
      expect(emailProblem(email)).toBeUndefined();
    },
  );

  it.each([
    ['no-at.example.com', 'no @'],
    ['@example.com', 'nothing before the @'],
    ['a@@example.com', 'more than one @'],
    ['a@b@example.com', 'more than one @'],
    ['a"b@example.com', 'character'],
    ['a(b)@example.com', 'character'],
    ['a,b@example.com', 'character'],
    ['a:b@example.com', 'character'],
    ['a;b@example.com', 'character'],
    ['<a>@example.com', 'character'],
    ['a[b]@example.com', 'character'],
    ['a\\b@example.com', 'character'],
    ['a b@example.com', 'character'],
    ['a@example', 'no "."'],
    ['a@example.c', 'two or more letters'],
    ['a@example.c0m', 'two or more letters'],
    ['x@xn--p1ai.xn--p1ai', 'two or more letters'],
    ['user@example.xn--p1ai', 'two or more letters'],
    ['a@example..com', 'empty label'],
    [`${'a'.repeat(250)}@example.com`, 'longer than 255'],
  ])('rejects %s', (email, why) => {
    expect(emailProblem(email)).toContain(why);
  });
});

describe('normalise', () => {
  it('trims, lower-cases and NFC-normalises emails when they carry stray whitespace and decomposed accents', () => {
    expect(normaliseEmail('\u00a0 JOSE\u0301@Example.COM \t')).toBe('josé@example.com');
  });

  it('collapses inner whitespace in names when a quoted newline is inside', () => {
    expect(normaliseName('  Mary\r\n  Jane ')).toBe('Mary Jane');
  });

  it('trims and NFC-normalises text exactly like trim() then normalize() when values mix ASCII, controls and Unicode spaces', () => {
    const pieces = [
      'a',
      'Z',
      ' ',
      '\t',
      '\n',
      '\u0001',
      '\u007f',
      '\u00a0',
      '\ufeff',
      '\u2003',
      'e\u0301',
      'é',
      '😀',
    ];
    let seed = 3;
    for (let n = 0; n < 3_000; n++) {
      let text = '';
      for (let k = 0; k < n % 7; k++) {
        seed = (seed * 1103515245 + 12345) >>> 0;
        text += pieces[seed % pieces.length];
      }
      expect(normaliseText(text)).toBe(text.trim().normalize('NFC'));
    }
    expect(normaliseText(undefined)).toBe('');
  });

  it('collapses names exactly like the whitespace regex when the text mixes spaces, controls and NBSP', () => {
    const pieces = ['a', 'Zé', ' ', '  ', '\t', '\n', '\v', '\f', '\r', '\u00a0', '\u2003', 'x y'];
    let seed = 7;
    for (let n = 0; n < 2_000; n++) {
      let text = '';
      for (let k = 0; k < 5; k++) {
        seed = (seed * 1103515245 + 12345) >>> 0;
        text += pieces[seed % pieces.length];
      }
      const trimmed = text.trim().normalize('NFC');
      const expected = /\s\s|[\t\n\r\f\v\u00a0]/.test(trimmed) ? trimmed.replace(/\s+/g, ' ') : trimmed;
      expect(normaliseName(text)).toBe(expected);
    }
    expect(normaliseName('Mary  Jane')).toBe('Mary Jane');
    expect(normaliseName('Mary Jane')).toBe('Mary Jane');
  });

  it('judges the top-level label exactly like /^[a-z]{2,}$/i when it mixes letters, digits and look-alikes', () => {
    const pieces = ['a', 'Z', 'k', '1', '-', '\u017f', '\u212a', 'é', '`', '{', '@', '['];
    let seed = 5;
    for (let n = 0; n < 3_000; n++) {
      let tld = '';
      for (let k = 0; k < n % 5; k++) {
        seed = (seed * 1103515245 + 12345) >>> 0;
        tld += pieces[seed % pieces.length];
      }
      const email = `x@d.${tld}`;
      const problem = emailProblem(email);
      const regexSaysOk = /^[a-z]{2,}$/i.test(tld);
      if (regexSaysOk) expect(problem).toBeUndefined();
      else expect(problem).toBeDefined();
    }
  });

  it('leaves every code point below U+0300 unchanged under NFC when it skips normalize() for such text', () => {
    // The fast paths rely on this: such text is already NFC, so normalize() is not called for it.
    for (let c = 0; c < 0x300; c++) {
      const text = `a${String.fromCharCode(c)}b`;
      expect(text.normalize('NFC')).toBe(text);
    }
    expect(normaliseText('A\u030a')).toBe('\u00c5');
    expect(normaliseText('\u212b')).toBe('\u00c5');
  });

  it('normalises names, text and emails exactly like trim/NFC/collapse/lower-case when the text mixes Latin, combining and space characters', () => {
    const pieces = [
      'a',
      'Z',
      'é',
      'ß',
      'ǅ',
      '\u02ff',
      '\u0300',
      '\u0301',
      '\u212b',
      '\u0085',
      ' ',
      '  ',
      '\t',
      '\u00a0',
      '\u2003',
      '\ufeff',
      '@',
      '.',
    ];
    let seed = 11;
    for (let n = 0; n < 5_000; n++) {
      let text = '';
      for (let k = 0; k < n % 8; k++) {
        seed = (seed * 1103515245 + 12345) >>> 0;
        text += pieces[seed % pieces.length];
      }
      const trimmed = text.trim().normalize('NFC');
      expect(normaliseText(text)).toBe(trimmed);
      expect(normaliseEmail(text)).toBe(trimmed.toLowerCase());
      const expected = /\s\s|[\t\n\r\f\v\u00a0]/.test(trimmed) ? trimmed.replace(/\s+/g, ' ') : trimmed;
      expect(normaliseName(text)).toBe(expected);
    }
    expect(normaliseEmail(undefined)).toBe('');
    expect(normaliseName(undefined)).toBe('');
  });
});

describe('toBulkContact', () => {
  it('omits empty values when building the bulk_import shape', () => {
    const body = toBulkContact(
      {
        email: 'a@example.com',
        firstName: 'A',
        lastName: '',
        phone: '',
        tags: [],
        fields: [{ id: 3, value: 'v' }],
      },
      7,
    );
    expect(body).toEqual({
      email: 'a@example.com',
      first_name: 'A',
      fields: [{ id: 3, value: 'v' }],
      subscribe: [{ listid: 7 }],
    });
  });
});

describe('bulkContactJson', () => {
  it('equals JSON.stringify of the bulk contact when every value is present and needs escaping', () => {
    const contact = {
      email: 'a"b@example.com',
      firstName: 'Zoë "Z"',
      lastName: 'O\\Brien',
      phone: '+1\n555',
      tags: ['vip', 'ü'],
      fields: [{ id: 3, value: '😀' }],
    };
    expect(bulkContactJson(contact, 9)).toBe(JSON.stringify(toBulkContact(contact, 9)));
    const bare = { ...contact, firstName: '', lastName: '', phone: '', tags: [], fields: [] };
    expect(bulkContactJson(bare, 9)).toBe(JSON.stringify(toBulkContact(bare, 9)));
  });
});

describe('utf8Length', () => {
  it('matches Buffer.byteLength when the text mixes 1- to 4-byte characters', () => {
    const text = JSON.stringify({ s: 'aé李😀\ud800' });
    expect(utf8Length(text)).toBe(Buffer.byteLength(text));
  });
});
