/**
 * Normalising and validating one contact, and its ActiveCampaign bulk-import shape.
 *
 * Email rules are ActiveCampaign's own (docs/activecampaign.md, "The email rule", from
 * developers.activecampaign.com/reference/bulk-import-contacts): at least one character before `@`, none of
 * `" ( ) , : ; < > @ [ \ ]` besides the single `@`, and a domain with a `.` followed by at least two
 * letters. We read the last rule strictly (the domain ENDS in `.` + ≥2 ASCII letters; no punycode `xn--` or
 * digits in the last label, since the rule is ambiguous, the exporter builds for both readings and the strict one refuses them)
 * and also refuse whitespace, control characters and empty domain labels, so a batch is never rejected for
 * format: one bad address would reject the whole request (400, nothing queued).
 *
 * Field lengths: ActiveCampaign documents none for bulk import. We choose 255 characters for email, first
 * name, last name, phone and each tag (RFC 5321 caps a usable address at 254; 255 is the common VARCHAR
 * ceiling such fields are stored in); custom field values are only bounded by the request size.
 */
import * as hashing from './hash64';
import { finalMix, type Hash64 } from './hash64';
import { nfcStableText } from './nfc';

// Module-level copies of imported constants for the hot loops: see hash64.ts.
const { MUL1, MUL2, SEED1, SEED2 } = hashing;

/** Longest email, name, phone or tag accepted (characters). */
const MAX_FIELD_LENGTH = 255;
// Local constants, exported here: see hash64.ts for why hot loops must not read `export const`s.
export { MAX_FIELD_LENGTH };

/** A normalised contact, as staged for ActiveCampaign. */
export interface Contact {
  email: string;
  firstName: string;
  lastName: string;
  phone: string;
  tags: string[];
  fields: { id: number; value: string }[];
}

/** Trims (all Unicode whitespace, incl. NBSP and BOM) and applies Unicode NFC. */
export function normaliseText(value: string | undefined): string {
  if (value === undefined) return '';
  const trimmed = value.trim();
  // Most text is NFC already, which a scan can tell (nfc.ts): skipping the call keeps 1M rows fast.
  return nfcStableText(trimmed) ? trimmed : trimmed.normalize('NFC');
}

/** Like `normaliseText`, and collapses inner runs of whitespace (quoted newlines in names) to one space. */
export function normaliseName(value: string | undefined): string {
  if (value === undefined) return '';
  // One scan for the common case (this runs twice per row): no whitespace at either end, no character from
  // U+0300 on, no NBSP, control whitespace or double space: trim, NFC and the collapse would all be no-ops.
  const n = value.length;
  if (n > 0 && !isTrimmable(value.charCodeAt(0)) && !isTrimmable(value.charCodeAt(n - 1))) {
    let space = false;
    let i = 0;
    for (; i < n; i++) {
      const c = value.charCodeAt(i);
      if (c >= 0x300 || c === 0xa0 || (c >= 0x09 && c <= 0x0d)) break;
      if (c === 0x20) {
        if (space) break;
        space = true;
      } else space = false;
    }
    if (i === n) return value;
  }
  const text = normaliseText(value);
  return needsCollapse(text) ? text.replace(/\s+/g, ' ') : text;
}

/** True for the characters below U+0300 that `String.prototype.trim` removes (JS WhiteSpace and LineTerminator). */
function isTrimmable(c: number): boolean {
  return c <= 0x20 ? c === 0x20 || (c >= 0x09 && c <= 0x0d) : c === 0xa0 || c >= 0x300;
}

const COLLAPSE = /\s\s|[\t\n\r\f\v\u00a0]/;

/**
 * `COLLAPSE.test(text)`, decided by a character scan below U+0300 (the regex runs only for other text).
 * Below U+0300 the only JS `\s` characters are U+0009–U+000D, U+0020 and U+00A0 (ECMA-262 WhiteSpace and
 * LineTerminator; U+0085 is not one).
 */
function needsCollapse(text: string): boolean {
  let space = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x300) return COLLAPSE.test(text);
    if (c === 0xa0 || (c >= 0x09 && c <= 0x0d)) return true;
    if (c === 0x20) {
      if (space) return true;
      space = true;
    } else space = false;
  }
  return false;
}

/** Normalises an email address: trimmed, NFC, lower-case (ActiveCampaign matches emails case-insensitively). */
export function normaliseEmail(value: string | undefined): string {
  if (value === undefined) return '';
  // One scan for the common case (this runs once per row): printable ASCII without upper-case letters is
  // already trimmed, NFC and lower-case, so no trim/toLowerCase copies are made.
  const n = value.length;
  for (let i = 0; i < n; i++) {
    const c = value.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f || (c >= 0x41 && c <= 0x5a)) return normaliseText(value).toLowerCase();
  }
  return value;
}

// Characters ActiveCampaign refuses (besides the one `@`), plus whitespace and control characters.
// eslint-disable-next-line no-control-regex -- control characters are exactly what this rejects
const FORBIDDEN = /["(),:;<>[\\\]\s\u0000-\u001f\u007f]/;
const FORBIDDEN_ASCII = new Uint8Array(128);
for (let c = 0; c < 128; c++) FORBIDDEN_ASCII[c] = FORBIDDEN.test(String.fromCharCode(c)) ? 1 : 0;

/**
 * `/^[a-z]{2,}$/i.test(email.slice(from))` without the per-row slice and regex run. Without the `u` flag an
 * `i` regex never matches a non-ASCII character to an ASCII letter (ECMA-262 Canonicalize), so this is
 * exactly two or more ASCII letters.
 */
function isTopLevel(email: string, from: number): boolean {
  if (email.length - from < 2) return false;
  for (let i = from; i < email.length; i++) {
    const c = email.charCodeAt(i) | 0x20;
    if (c < 0x61 || c > 0x7a) return false;
  }
  return true;
}

/** Why `email` (already normalised) is not acceptable to ActiveCampaign, or undefined when it is. */
export function emailProblem(email: string): string | undefined {
  if (email.length > MAX_FIELD_LENGTH) return `longer than ${MAX_FIELD_LENGTH} characters`;
  // One pass over the characters (this runs once per row); messages are built only for bad addresses.
  let at = -1;
  let ats = 0;
  let forbidden = -1;
  let lastDot = -1;
  let emptyLabel = false;
  for (let i = 0; i < email.length; i++) {
    const c = email.charCodeAt(i);
    if (c === 0x40) {
      ats++;
      if (at === -1) at = i;
    } else if (c === 0x2e) {
      if (at !== -1 && (i === at + 1 || i === lastDot + 1 || i === email.length - 1)) emptyLabel = true;
      if (at !== -1) lastDot = i;
    } else if (forbidden === -1 && (c < 128 ? FORBIDDEN_ASCII[c] === 1 : FORBIDDEN.test(email[i]!))) {
      forbidden = i;
    }
  }
  if (at === -1) return 'no @';
  if (ats > 1) return 'more than one @';
  if (at === 0) return 'nothing before the @';
  if (forbidden !== -1) return `contains the character ${JSON.stringify(email[forbidden])}`;
  if (lastDot === -1) return 'the domain has no "."';
  if (emptyLabel) return 'the domain has an empty label';
  if (!isTopLevel(email, lastDot + 1)) return 'the domain does not end in "." and two or more letters';
  return undefined;
}

// How `plainEmail` treats each code unit below U+0300 (from U+0300 on, NFC might change the text: not plain).
const PLAIN = 0;
const AT = 1;
const DOT = 2;
/** Upper case or space (normaliseEmail would change it), a control, NBSP or other character not allowed. */
const NOT_PLAIN = 3;
/** How `plainEmail` treats code unit `c` (below U+0300). */
function emailUnit(c: number): number {
  if (c === 0x40) return AT;
  if (c === 0x2e) return DOT;
  const unit = String.fromCharCode(c);
  // Space, controls and NBSP; upper case (`toLowerCase` is context-free below U+0300); characters not allowed.
  if (c <= 0x20 || (c >= 0x7f && c <= 0xa0) || unit.toLowerCase() !== unit) return NOT_PLAIN;
  return c < 0x80 && FORBIDDEN_ASCII[c] === 1 ? NOT_PLAIN : PLAIN;
}
const EMAIL_UNITS = Uint8Array.from({ length: 0x300 }, (_, c) => emailUnit(c));

/**
 * Whether `email` is already what `normaliseEmail` makes of it and `emailProblem` finds nothing wrong,
 * decided in one scan (a table lookup per code unit) that also hashes it (`hash64`, into `out`) and, given
 * `bytes`, writes its UTF-8 at `p` (it needs no JSON escape). Only for lower-case text below U+0300 without
 * controls or spaces (which trim, NFC and toLowerCase leave as it is) — the common address. Returns the
 * position after the bytes written (`p` without `bytes`), or -1 for any other text, valid or not: the caller
 * then takes the general path (normaliseEmail, emailProblem, hash64), which decides it.
 */
export function plainEmail(email: string, out: Hash64, bytes?: Uint8Array, p = 0): number {
  const n = email.length;
  if (n === 0 || n > MAX_FIELD_LENGTH) return -1;
  let h1 = SEED1;
  let h2 = SEED2;
  let at = -1;
  let lastDot = -1;
  for (let i = 0; i < n; i++) {
    const c = email.charCodeAt(i);
    if (c >= 0x300) return -1;
    const unit = EMAIL_UNITS[c];
    if (unit !== PLAIN) {
      if (unit === NOT_PLAIN) return -1;
      if (unit === AT) {
        if (at !== -1) return -1;
        at = i;
      } else if (at !== -1) {
        // A dot in the domain: an empty label (right after the @ or another dot, or at the end) is invalid.
        if (i === at + 1 || i === lastDot + 1 || i === n - 1) return -1;
        lastDot = i;
      }
    }
    if (bytes) {
      if (c < 0x80) bytes[p++] = c;
      else {
        bytes[p++] = 0xc0 | (c >> 6);
        bytes[p++] = 0x80 | (c & 0x3f);
      }
    }
    h1 = Math.imul(h1 ^ c, MUL1);
    h2 = Math.imul(h2 ^ c, MUL2);
  }
  if (at <= 0 || lastDot === -1 || !isTopLevel(email, lastDot + 1)) return -1;
  finalMix(h1, h2, out);
  return p;
}

/** The bulk_import contact object (keys in a fixed order, empty values omitted so they never blank out data). */
export function toBulkContact(contact: Contact, listId: number): Record<string, unknown> {
  const body: Record<string, unknown> = { email: contact.email };
  if (contact.firstName) body.first_name = contact.firstName;
  if (contact.lastName) body.last_name = contact.lastName;
  if (contact.phone) body.phone = contact.phone;
  if (contact.tags.length) body.tags = contact.tags;
  if (contact.fields.length) body.fields = contact.fields;
  body.subscribe = [{ listid: listId }];
  return body;
}

/**
 * `JSON.stringify(toBulkContact(contact, listId))`, built directly: the readable definition of a contact's
 * bytes, which `BulkContactEncoder` (jsonBuffer.ts, the hot path) must write exactly.
 */
export function bulkContactJson(contact: Contact, listId: number): string {
  let json = `{"email":${JSON.stringify(contact.email)}`;
  if (contact.firstName) json += `,"first_name":${JSON.stringify(contact.firstName)}`;
  if (contact.lastName) json += `,"last_name":${JSON.stringify(contact.lastName)}`;
  if (contact.phone) json += `,"phone":${JSON.stringify(contact.phone)}`;
  if (contact.tags.length) json += `,"tags":${JSON.stringify(contact.tags)}`;
  if (contact.fields.length) {
    // Built by hand: JSON.stringify of an array of objects is several times slower than of strings.
    let fields = '';
    for (const f of contact.fields)
      fields += `${fields ? ',' : ''}{"id":${f.id},"value":${JSON.stringify(f.value)}}`;
    json += `,"fields":[${fields}]`;
  }
  return `${json},"subscribe":[{"listid":${listId}}]}`;
}

/** The bulk_import entry that unsubscribes `email` from the list (mirror mode); carries only the email. */
export function toBulkUnsubscribe(email: string, listId: number): Record<string, unknown> {
  return { email, unsubscribe: [{ listid: listId }] };
}

/** Exact UTF-8 byte length of a well-formed string (JSON.stringify never emits lone surrogates). */
export function utf8Length(text: string): number {
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) bytes += 1;
    else if (c >= 0xd800 && c <= 0xdbff) {
      bytes += 2;
      i++;
    } else bytes += 2;
  }
  return bytes;
}
