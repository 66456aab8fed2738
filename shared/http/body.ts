/**
 * Reading request bodies: at most 64 KiB (413 beyond, checked on the declared length and on the bytes
 * actually read), JSON only, parsed without echoing the body in errors (it may hold an API key).
 */
import type { HttpRequest } from '@azure/functions';

import { PayloadTooLargeError, UnsupportedMediaTypeError, ValidationError } from '../errors';

/** The largest body any route accepts. */
export const MAX_BODY_BYTES = 64 * 1024;

/** The body's bytes, refusing more than `limit` with `PayloadTooLargeError`. */
export async function readBodyBytes(
  request: Pick<HttpRequest, 'headers' | 'body' | 'arrayBuffer'>,
  limit = MAX_BODY_BYTES,
): Promise<Uint8Array> {
  const declared = Number(request.headers.get('content-length') ?? '0');
  if (Number.isFinite(declared) && declared > limit) throw new PayloadTooLargeError(limit);
  const stream = request.body;
  if (!stream) return new Uint8Array(await request.arrayBuffer());
  const reader = (stream as ReadableStream<Uint8Array>).getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel().catch(() => undefined);
      throw new PayloadTooLargeError(limit);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}

/**
 * The body parsed as JSON, or `undefined` when there is none. A body must be `application/json`
 * (415 otherwise) and valid UTF-8 JSON (400, with the position but never the text).
 */
export async function readJsonBody(
  request: Pick<HttpRequest, 'headers' | 'body' | 'arrayBuffer'>,
  limit = MAX_BODY_BYTES,
): Promise<unknown> {
  const bytes = await readBodyBytes(request, limit);
  if (bytes.byteLength === 0) return undefined;
  const type = (request.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json' && !/^application\/[a-z0-9.+-]+\+json$/.test(type)) {
    throw new UnsupportedMediaTypeError(
      `The request body must be JSON sent with content-type: application/json (got ${
        type === '' ? 'no content-type' : JSON.stringify(type.slice(0, 100))
      })`,
    );
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new ValidationError('The request body is not valid UTF-8', [
      { field: 'body', message: 'not valid UTF-8' },
    ]);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    // V8's message quotes the text around the error: report only where it is.
    const position = /position (\d+)/.exec(error instanceof Error ? error.message : '')?.[1];
    throw new ValidationError('The request body is not valid JSON', [
      { field: 'body', message: position ? `not valid JSON (at position ${position})` : 'not valid JSON' },
    ]);
  }
}
