/** The general path's per-row field rules: a row's tags, and which mapped value is too long to send. */
import * as contact from './contact';
import { normaliseName } from './contact';
import type { ExportMapping } from './exportMapping';

// Module-level copies of imported constants for the hot loops: see hash64.ts.
const { MAX_FIELD_LENGTH } = contact;

/** The row's tags: the fixed ones, then the tag column's (split, normalised, without repeats). */
export function tagsOf(
  tagMapping: ExportMapping['tags'],
  column: number,
  fields: readonly string[],
): string[] {
  const { fixed, separator } = tagMapping;
  if (column === -1) return fixed;
  const raw = fields[column] ?? '';
  if (raw.trim() === '') return fixed;
  const tags = fixed.slice();
  for (const part of raw.split(separator)) {
    const tag = normaliseName(part);
    if (tag !== '' && !tags.includes(tag)) tags.push(tag);
  }
  return tags;
}

/** Why a normalised value cannot be sent (longer than ActiveCampaign takes), naming its column; or undefined. */
export function tooLongDetail(
  mapping: ExportMapping,
  firstName: string,
  lastName: string,
  phone: string,
  tags: string[],
): string | undefined {
  if (firstName.length > MAX_FIELD_LENGTH)
    return `${mapping.firstName} is longer than ${MAX_FIELD_LENGTH} characters`;
  if (lastName.length > MAX_FIELD_LENGTH)
    return `${mapping.lastName} is longer than ${MAX_FIELD_LENGTH} characters`;
  if (phone.length > MAX_FIELD_LENGTH)
    return `${mapping.phone} is longer than ${MAX_FIELD_LENGTH} characters`;
  // A loop, not `tags.find(…)`: no closure per row.
  for (let i = 0; i < tags.length; i++) {
    if (tags[i]!.length > MAX_FIELD_LENGTH)
      return `a tag in ${mapping.tags.column} is longer than ${MAX_FIELD_LENGTH} characters`;
  }
  return undefined;
}
