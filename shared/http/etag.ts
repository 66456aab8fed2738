/**
 * Optimistic concurrency over HTTP: responses for a record carry its `ETag`; `PATCH` and `DELETE` pass
 * `If-Match` to the record store, which answers 412 when the stored ETag differs (RFC 9110 §13.1.1).
 */
import type { HttpRequest } from '@azure/functions';

import { ValidationError } from '../errors';

/** The `If-Match` ETag of a request, or undefined for none or `*` (an unconditional write). */
export function ifMatchOf(request: Pick<HttpRequest, 'headers'>): string | undefined {
  const value = request.headers.get('if-match')?.trim();
  if (!value || value === '*') return undefined;
  // Table ETags (W/"datetime'…'") hold no comma: a comma means a list, which a single record cannot match.
  if (value.includes(',')) {
    throw new ValidationError('Invalid If-Match header', [
      { field: 'header.if-match', message: 'give the one ETag of the record you read' },
    ]);
  }
  return value;
}

/** The `ETag` response header for a stored record. */
export function etagHeader(etag: string): Record<string, string> {
  return { etag };
}
