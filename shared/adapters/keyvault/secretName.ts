/**
 * Secret names for ActiveCampaign API keys.
 *
 * Key Vault secret names are 1-127 characters of `0-9`, `a-z`, `A-Z` and `-`, and are case-insensitive
 * (https://learn.microsoft.com/azure/key-vault/general/about-keys-secrets-certificates#object-identifiers).
 * A connection id may hold any character, so it is escaped into a lowercase-only form that is
 * injective even under Key Vault's case folding: `0-9` and `a-z` stay, every other UTF-8 byte
 * (including `-` itself and upper-case letters) becomes `-` plus two lowercase hex digits.
 * `Conn_1` → `ac-key--43onn-5f1`; a UUID stays readable (`-` → `-2d`).
 */
import { ValidationError } from '../../errors';

/** Prefix of every API-key secret; lets an operator tell them apart in a shared vault. */
export const API_KEY_SECRET_PREFIX = 'ac-key-';

/** Longest secret name Key Vault accepts. */
export const MAX_SECRET_NAME_LENGTH = 127;

const PLAIN = /^[0-9a-z]$/;

/** The Key Vault secret name that holds the API key of `connectionId`. */
export function toSecretName(connectionId: string): string {
  if (connectionId.length === 0) {
    throw new ValidationError('Invalid connection id', [
      { field: 'connectionId', message: 'must not be empty' },
    ]);
  }
  let encoded = '';
  for (const char of connectionId) {
    if (PLAIN.test(char)) {
      encoded += char;
      continue;
    }
    for (const byte of Buffer.from(char, 'utf8')) encoded += `-${byte.toString(16).padStart(2, '0')}`;
  }
  const name = API_KEY_SECRET_PREFIX + encoded;
  if (name.length > MAX_SECRET_NAME_LENGTH) {
    throw new ValidationError('Invalid connection id', [
      {
        field: 'connectionId',
        message: `too long to name a Key Vault secret (${name.length} > ${MAX_SECRET_NAME_LENGTH} characters once escaped)`,
      },
    ]);
  }
  return name;
}

/** The connection id whose API key a secret named `secretName` holds, or undefined for other secrets. */
export function fromSecretName(secretName: string): string | undefined {
  // Key Vault may hand names back in any case; the encoding itself is lowercase.
  const name = secretName.toLowerCase();
  if (!name.startsWith(API_KEY_SECRET_PREFIX)) return undefined;
  const encoded = name.slice(API_KEY_SECRET_PREFIX.length);
  if (encoded.length === 0) return undefined;
  const bytes: number[] = [];
  for (let i = 0; i < encoded.length;) {
    const char = encoded[i]!;
    if (char === '-') {
      const hex = encoded.slice(i + 1, i + 3);
      if (!/^[0-9a-f]{2}$/.test(hex)) return undefined;
      bytes.push(parseInt(hex, 16));
      i += 3;
    } else if (PLAIN.test(char)) {
      bytes.push(char.charCodeAt(0));
      i += 1;
    } else {
      return undefined;
    }
  }
  const connectionId = new TextDecoder('utf-8', { fatal: false }).decode(Uint8Array.from(bytes));
  // Only names this module could have produced count: rejects `-41` for an `a` that was never escaped etc.
  return safeToSecretName(connectionId) === name ? connectionId : undefined;
}

function safeToSecretName(connectionId: string): string | undefined {
  try {
    return toSecretName(connectionId);
  } catch {
    return undefined;
  }
}
