/**
 * Parsing request input with zod: body, path parameters and query, each into the route's strict schema.
 * Failures become one `ValidationError` whose issues name each field (`body.mapping.email`,
 * `query.limit`, `path.id`) with zod's message, which never repeats the value it refused.
 */
import type { z } from 'zod';

import { type FieldIssue, ValidationError } from '../errors';

/** Where a value came from; prefixes the field paths of its issues. */
export type InputLocation = 'body' | 'path' | 'query';

/** The field issues of a zod error, each path prefixed with `location`. */
export function toFieldIssues(error: z.ZodError, location: InputLocation): FieldIssue[] {
  return error.issues
    .map((issue) => {
      const keys = issue.code === 'unrecognized_keys' ? issue.keys : [undefined];
      return keys.map((key) => ({
        field: [location, ...issue.path.map(String), ...(key === undefined ? [] : [key])].join('.'),
        message: key === undefined ? issue.message : 'unknown field',
      }));
    })
    .flat();
}

/** `value` parsed with `schema`, or a `ValidationError` (400) naming every bad field. */
export function parseInput<T>(schema: z.ZodType<T>, value: unknown, location: InputLocation): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const what = location === 'body' ? 'request body' : location === 'path' ? 'path' : 'query string';
  throw new ValidationError(`Invalid ${what}`, toFieldIssues(result.error, location));
}

/** The query string as an object; a parameter given twice is refused (no silent first/last wins). */
export function queryObject(query: URLSearchParams): Record<string, string> {
  const result = Object.create(null) as Record<string, string>;
  const repeated: FieldIssue[] = [];
  for (const [key, value] of query) {
    if (Object.prototype.hasOwnProperty.call(result, key)) {
      repeated.push({ field: `query.${key}`, message: 'given more than once' });
    }
    result[key] = value;
  }
  if (repeated.length) throw new ValidationError('Invalid query string', repeated);
  return result;
}
