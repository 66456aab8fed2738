import { describe, expect, it } from 'vitest';
import { z } from 'zod';

import {
  AppError,
  ConflictError,
  MethodNotAllowedError,
  PayloadTooLargeError,
  UnsupportedMediaTypeError,
  ValidationError,
} from '../../../shared/errors';
import { readJsonBody } from '../../../shared/http/body';
import { redact, toErrorResponse } from '../../../shared/http/errorResponse';
import { ifMatchOf } from '../../../shared/http/etag';
import { parseInput, queryObject } from '../../../shared/http/validation';
import { capturingContext, request } from './helpers';

const json = { 'content-type': 'application/json' };

describe('readJsonBody', () => {
  it('parses a JSON body when the content type is application/json', async () => {
    await expect(readJsonBody(request({ method: 'POST', body: '{"a":1}', headers: json }))).resolves.toEqual({
      a: 1,
    });
  });

  it('answers undefined when there is no body', async () => {
    await expect(readJsonBody(request({ method: 'POST' }))).resolves.toBeUndefined();
  });

  it('refuses a body over 64 KiB with PayloadTooLargeError', async () => {
    const body = JSON.stringify({ a: 'x'.repeat(64 * 1024) });
    await expect(readJsonBody(request({ method: 'POST', body, headers: json }))).rejects.toBeInstanceOf(
      PayloadTooLargeError,
    );
  });

  it('refuses a body that is not declared as JSON with a 415', async () => {
    await expect(
      readJsonBody(
        request({
          method: 'POST',
          body: 'a=1',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
        }),
      ),
    ).rejects.toBeInstanceOf(UnsupportedMediaTypeError);
  });

  it('reports invalid JSON by position without quoting the body', async () => {
    const error = (await readJsonBody(
      request({ method: 'POST', body: '{"apiKey":"s3cr3t-value", oops', headers: json }),
    ).catch((e: unknown) => e)) as ValidationError;
    expect(error).toBeInstanceOf(ValidationError);
    expect(error.message).not.toContain('s3cr3t');
    expect(error.issues[0]?.field).toBe('body');
  });

  it('refuses bytes that are not UTF-8', async () => {
    await expect(
      readJsonBody(request({ method: 'POST', body: new Uint8Array([0x7b, 0xff, 0x7d]), headers: json })),
    ).rejects.toThrow(/UTF-8/);
  });
});

describe('parseInput', () => {
  const schema = z.strictObject({ name: z.string().min(1), inner: z.strictObject({ n: z.number() }) });

  it('names each bad field with its location and refuses unknown fields', () => {
    const error = (() => {
      try {
        parseInput(schema, { name: '', inner: { n: 'x', extra: 1 }, other: true }, 'body');
      } catch (e) {
        return e as ValidationError;
      }
    })();
    expect(error).toBeInstanceOf(ValidationError);
    expect(error?.issues.map((i) => i.field).sort()).toEqual([
      'body.inner.extra',
      'body.inner.n',
      'body.name',
      'body.other',
    ]);
    expect(error?.issues.find((i) => i.field === 'body.other')?.message).toBe('unknown field');
  });
});

describe('queryObject', () => {
  it('refuses a parameter given twice', () => {
    expect(() => queryObject(new URLSearchParams('a=1&a=2'))).toThrow(/given more than once/);
  });

  it('keeps __proto__ as an ordinary key that a strict schema then refuses', () => {
    const query = queryObject(new URLSearchParams('__proto__=x'));
    expect(() => parseInput(z.strictObject({}), query, 'query')).toThrow(ValidationError);
  });
});

describe('ifMatchOf', () => {
  it('gives the ETag, nothing for * and refuses a list', () => {
    expect(ifMatchOf(request({ headers: { 'if-match': 'W/"x"' } }))).toBe('W/"x"');
    expect(ifMatchOf(request({ headers: { 'if-match': '*' } }))).toBeUndefined();
    expect(() => ifMatchOf(request({ headers: { 'if-match': '"a", "b"' } }))).toThrow(ValidationError);
  });
});

describe('toErrorResponse', () => {
  it('maps a ValidationError to 400 with details per field', () => {
    const response = toErrorResponse(
      new ValidationError('Invalid request body', [{ field: 'body.x', message: 'bad' }]),
    );
    expect(response.status).toBe(400);
    expect(response.headers['content-type']).toBe('application/json');
    expect(response.jsonBody).toEqual({
      error: {
        code: 'validation_failed',
        message: 'Invalid request body',
        details: [{ path: 'body.x', message: 'bad' }],
      },
    });
  });

  it('keeps the status and code of our own client errors and adds Allow to a 405', () => {
    expect(toErrorResponse(new ConflictError('in use')).status).toBe(409);
    const response = toErrorResponse(new MethodNotAllowedError('PUT', '/api/x', ['GET', 'POST']));
    expect(response.status).toBe(405);
    expect(response.headers.allow).toBe('GET, POST');
  });

  it('answers 500 with a generic message and logs the cause, redacting secrets, when the error is unknown', () => {
    const { context, lines } = capturingContext();
    const response = toErrorResponse(new TypeError('boom with key abcd1234secret'), context, [
      'abcd1234secret',
    ]);
    expect(response.status).toBe(500);
    expect(JSON.stringify(response.jsonBody)).not.toContain('boom');
    expect(JSON.stringify(response.jsonBody)).not.toContain('stack');
    expect(lines.join('\n')).toContain('boom with key [redacted]');
    expect(lines.join('\n')).not.toContain('abcd1234secret');
  });

  it('says a dependency is unavailable, without its message, when an AppError is retryable', () => {
    const response = toErrorResponse(
      new AppError('vault at 10.1.2.3 down', { code: 'kv', retryable: true, status: 503 }),
    );
    expect(response.status).toBe(503);
    expect(JSON.stringify(response.jsonBody)).not.toContain('10.1.2.3');
  });
});

describe('redact', () => {
  it('replaces every occurrence of each secret', () => {
    expect(redact('a SECRET b SECRET', ['SECRET'])).toBe('a [redacted] b [redacted]');
  });
});
