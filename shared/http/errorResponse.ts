/**
 * The one mapping from anything thrown to an HTTP response:
 * `{ "error": { "code", "message", "details": [{ "path", "message" }] } }`, `content-type: application/json`.
 * Our own errors (`AppError`) answer with their status, code and message (messages never carry secrets);
 * anything else is a 500 with a generic message, logged with its name and message (secrets redacted),
 * never its stack in the response.
 */
import { z } from 'zod';

import { AppError, ensureError, MethodNotAllowedError, ValidationError } from '../errors';

/** The error body every route answers with: the zod schema is its single source (and the OpenAPI's). */
export const ErrorBody = z
  .object({
    error: z.object({
      code: z.string().describe('Stable machine-readable code, e.g. validation_failed, not_found'),
      message: z.string(),
      details: z.array(z.object({ path: z.string(), message: z.string() })),
    }),
  })
  .meta({ id: 'Error' });
export type ErrorBody = z.infer<typeof ErrorBody>;

/** What the mapping logs with; an `InvocationContext` fits. */
export interface ErrorLogger {
  error(...args: unknown[]): void;
  warn(...args: unknown[]): void;
}

/** An HTTP response in the shape `@azure/functions` handlers return. */
export interface JsonResponse {
  status: number;
  headers: Record<string, string>;
  jsonBody: unknown;
}

/** Replaces every occurrence of each secret (≥ 4 characters) in `text` with `[redacted]`. */
export function redact(text: string, secrets: readonly string[]): string {
  let result = text;
  for (const secret of secrets) if (secret.length >= 4) result = result.split(secret).join('[redacted]');
  return result;
}

/** A JSON response with `content-type: application/json`. */
export function jsonResponse(
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): JsonResponse {
  return { status, headers: { 'content-type': 'application/json', ...headers }, jsonBody: body };
}

/** The JSON error response for `thrown`; server errors are logged (redacting `secrets`), never exposed. */
export function toErrorResponse(
  thrown: unknown,
  logger?: ErrorLogger,
  secrets: readonly string[] = [],
): JsonResponse {
  if (thrown instanceof AppError && thrown.status < 500) {
    const details =
      thrown instanceof ValidationError
        ? thrown.issues.map((i) => ({ path: i.field, message: i.message }))
        : [];
    const headers: Record<string, string> =
      thrown instanceof MethodNotAllowedError ? { allow: thrown.allow.join(', ') } : {};
    const message =
      thrown instanceof ValidationError && thrown.issues.length ? firstLine(thrown) : thrown.message;
    return jsonResponse(
      thrown.status,
      { error: { code: thrown.code, message: redact(message, secrets), details } },
      headers,
    );
  }
  const error = ensureError(thrown);
  const code = thrown instanceof AppError ? thrown.code : 'internal_error';
  logger?.error(redact(`Request failed (${code}): ${error.name}: ${error.message}`, secrets));
  // Retryable upstream failures (Key Vault, storage, ActiveCampaign unavailable) say so; others say nothing.
  const status = thrown instanceof AppError ? thrown.status : 500;
  const message =
    thrown instanceof AppError && thrown.retryable
      ? 'A service the app depends on is unavailable; try again later'
      : 'An unexpected error occurred; the details are in the app log';
  return jsonResponse(status, { error: { code, message, details: [] } });
}

/** A ValidationError's summary without its issue list (the details carry the fields). */
function firstLine(error: ValidationError): string {
  const suffix = `: ${error.issues.map((i) => `${i.field}: ${i.message}`).join('; ')}`;
  return error.message.endsWith(suffix) ? error.message.slice(0, -suffix.length) : error.message;
}
