import { describe, expect, it } from 'vitest';

import {
  API_KEY_SECRET_PREFIX,
  fromSecretName,
  MAX_SECRET_NAME_LENGTH,
  toSecretName,
} from '../../../../shared/adapters/keyvault/secretName';
import { ValidationError } from '../../../../shared/errors';

/** Key Vault's rule for secret names. */
const KEY_VAULT_NAME = /^[0-9a-zA-Z-]{1,127}$/;

describe('toSecretName', () => {
  it('keeps lowercase letters and digits as they are', () => {
    expect(toSecretName('abc123')).toBe('ac-key-abc123');
  });

  it('escapes dashes so UUIDs stay readable and unambiguous', () => {
    expect(toSecretName('3f2a-01')).toBe('ac-key-3f2a-2d01');
  });

  it('escapes upper-case letters so ids differing only in case never share a secret', () => {
    // Key Vault compares names case-insensitively.
    const upper = toSecretName('ABC');
    const lower = toSecretName('abc');
    expect(upper).toBe('ac-key--41-42-43');
    expect(upper.toLowerCase()).not.toBe(lower.toLowerCase());
  });

  it('escapes every other character as UTF-8 bytes when the id holds symbols or non-ASCII', () => {
    expect(toSecretName('Conn_1')).toBe('ac-key--43onn-5f1');
    expect(toSecretName('é/ ')).toBe('ac-key--c3-a9-2f-20');
  });

  it('produces only names Key Vault accepts when given arbitrary ids', () => {
    for (const id of ['a', 'A', '-', '--41', 'Ünïcödé', '😀', 'x'.repeat(120), ' spaced id ', 'a.b:c@d']) {
      const name = toSecretName(id);
      expect(name).toMatch(KEY_VAULT_NAME);
      expect(name).toBe(name.toLowerCase());
    }
  });

  it('accepts the longest id that fits and rejects one character more', () => {
    const room = MAX_SECRET_NAME_LENGTH - API_KEY_SECRET_PREFIX.length;
    expect(toSecretName('a'.repeat(room))).toHaveLength(MAX_SECRET_NAME_LENGTH);
    expect(() => toSecretName('a'.repeat(room + 1))).toThrow(ValidationError);
    expect(() => toSecretName('-'.repeat(41))).toThrow(/too long/);
  });

  it('rejects an empty id', () => {
    expect(() => toSecretName('')).toThrow(ValidationError);
  });
});

describe('fromSecretName', () => {
  it('recovers the connection id when given a name made by toSecretName', () => {
    for (const id of ['abc', 'ABC', 'Conn_1', '3f2a-01', '--41', 'Ünïcödé', '😀', ' spaced id ']) {
      expect(fromSecretName(toSecretName(id))).toBe(id);
    }
  });

  it('reads names back in any case, as Key Vault may return them', () => {
    expect(fromSecretName('AC-KEY--43ONN-5F1')).toBe('Conn_1');
  });

  it('returns undefined when the name is not one of ours or not canonical', () => {
    expect(fromSecretName('other-secret')).toBeUndefined();
    expect(fromSecretName('ac-key-')).toBeUndefined();
    expect(fromSecretName('ac-key-abc-4')).toBeUndefined(); // truncated escape
    expect(fromSecretName('ac-key--61')).toBeUndefined(); // 'a' escaped although it never is
    expect(fromSecretName('ac-key--zz')).toBeUndefined();
  });
});
