import { describe, expect, it } from 'vitest';

import {
  AppError,
  ensureError,
  InputFileError,
  isRetryable,
  statusCodeOf,
  ValidationError,
} from '../../shared/errors';

describe('errors', () => {
  it('keeps the original error in cause and retryable as a property', () => {
    const cause = new Error('socket hang up');
    const error = new AppError('upstream failed', { code: 'upstream', retryable: true, status: 502, cause });
    expect(error.cause).toBe(cause);
    expect(isRetryable(error)).toBe(true);
    expect(isRetryable(new Error('plain'))).toBe(false);
    expect(error.name).toBe('AppError');
  });

  it('names the file and line of a bad input file', () => {
    const error = new InputFileError('seg/a.csv', 'unterminated quote', { line: 42 });
    expect(error.message).toBe('seg/a.csv:42: unterminated quote');
    expect(error.status).toBe(422);
  });

  it('lists field issues in a validation error message', () => {
    const error = new ValidationError('Bad export', [{ field: 'listId', message: 'must be a number' }]);
    expect(error.message).toBe('Bad export: listId: must be a number');
    expect(error.status).toBe(400);
  });

  it('turns thrown non-errors into errors', () => {
    expect(ensureError('boom').message).toBe('Non-error thrown: boom');
    expect(ensureError({ a: 1 }).message).toBe('Non-error thrown: {"a":1}');
    const original = new TypeError('x');
    expect(ensureError(original)).toBe(original);
  });

  it('reads the HTTP status of an Azure SDK error when statusCode is a number or a numeric string', () => {
    expect(statusCodeOf(Object.assign(new Error('Not Found'), { statusCode: 404 }))).toBe(404);
    expect(statusCodeOf({ statusCode: '412' })).toBe(412);
    expect(statusCodeOf({ statusCode: 'oops' })).toBeUndefined();
    expect(statusCodeOf({ statusCode: '' })).toBeUndefined();
    expect(statusCodeOf(new Error('plain'))).toBeUndefined();
    expect(statusCodeOf(null)).toBeUndefined();
    expect(statusCodeOf(undefined)).toBeUndefined();
    expect(statusCodeOf('404')).toBeUndefined();
  });
});
