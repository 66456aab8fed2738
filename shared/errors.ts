/**
 * The project's one error family.
 *
 * Whether an error is worth retrying is a property of the error (`retryable`), decided where the error is
 * made, never guessed at the call site. The original error rides in `cause`. Messages never carry secrets.
 */

/** Base of every error this project throws on purpose. */
export class AppError extends Error {
  /** A stable machine-readable code, e.g. `config_invalid`. */
  readonly code: string;
  /** True when the same operation may succeed if tried again later. */
  readonly retryable: boolean;
  /** The HTTP status this error maps to when it reaches an HTTP boundary. */
  readonly status: number;

  constructor(
    message: string,
    options: { code: string; retryable?: boolean; status?: number; cause?: unknown },
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = options.code;
    this.retryable = options.retryable ?? false;
    this.status = options.status ?? 500;
  }
}

/** One problem with one named field of some input (a setting, a request body, a file column). */
export interface FieldIssue {
  /** Dotted path of the field, e.g. `ACTIVECAMPAIGN_REQUESTS_PER_SECOND` or `mapping.email`. */
  field: string;
  message: string;
}

/** Settings are missing or malformed; lists every bad setting at once. */
export class ConfigError extends AppError {
  readonly issues: readonly FieldIssue[];

  constructor(issues: readonly FieldIssue[]) {
    super(`Invalid configuration: ${issues.map((i) => `${i.field}: ${i.message}`).join('; ')}`, {
      code: 'config_invalid',
      status: 500,
    });
    this.issues = issues;
  }
}

/** A caller sent input that fails validation; field-level messages, HTTP 400. */
export class ValidationError extends AppError {
  readonly issues: readonly FieldIssue[];

  constructor(
    message: string,
    issues: readonly FieldIssue[] = [],
    cause?: unknown,
    /** A more specific code and status (e.g. 422 when ActiveCampaign refused a well-formed request). */
    options: { code?: string; status?: number } = {},
  ) {
    super(
      issues.length ? `${message}: ${issues.map((i) => `${i.field}: ${i.message}`).join('; ')}` : message,
      { code: options.code ?? 'validation_failed', status: options.status ?? 400, cause },
    );
    this.issues = issues;
  }
}

/** A segment file (or its model.json) cannot be used; names the file and, where known, the line. */
export class InputFileError extends AppError {
  readonly file: string;
  readonly line: number | undefined;
  /** The message without the file and line. */
  readonly detail: string;

  constructor(file: string, message: string, options: { line?: number; cause?: unknown } = {}) {
    super(`${file}${options.line === undefined ? '' : `:${options.line}`}: ${message}`, {
      code: 'input_file_invalid',
      status: 422,
      cause: options.cause,
    });
    this.file = file;
    this.line = options.line;
    this.detail = message;
  }
}

/** An export exceeds a hard limit (e.g. the profile cap); nothing was sent. */
export class LimitExceededError extends AppError {
  constructor(message: string) {
    super(message, { code: 'limit_exceeded', status: 422 });
  }
}

/** A segment snapshot is not completely written yet (a listed partition is missing); retrying later may succeed. */
export class SnapshotIncompleteError extends AppError {
  readonly segment: string;
  readonly folder: string;
  readonly missing: readonly string[];

  constructor(segment: string, folder: string, missing: readonly string[], detail: string) {
    super(
      `Segment "${segment}": snapshot folder ${folder} is incomplete: ${detail}; ` +
        'Customer Insights is probably still writing it; the run will be retried',
      { code: 'snapshot_incomplete', retryable: true, status: 503 },
    );
    this.segment = segment;
    this.folder = folder;
    this.missing = missing;
  }
}

/** The thing asked for does not exist. */
export class NotFoundError extends AppError {
  constructor(message: string, cause?: unknown) {
    super(message, { code: 'not_found', status: 404, cause });
  }
}

/** The record was changed or created concurrently, or is still in use (e.g. a connection exports use). */
export class ConflictError extends AppError {
  constructor(message: string, cause?: unknown) {
    super(message, { code: 'conflict', status: 409, cause });
  }
}

/** An `If-Match` ETag no longer matches the stored record: someone else changed it first. */
export class PreconditionFailedError extends AppError {
  constructor(message: string, cause?: unknown) {
    super(message, { code: 'precondition_failed', status: 412, cause });
  }
}

/** The request carries no (usable) identity. */
export class UnauthenticatedError extends AppError {
  constructor(message: string) {
    super(message, { code: 'unauthenticated', status: 401 });
  }
}

/** The caller is known but lacks the role or share the operation needs. */
export class ForbiddenError extends AppError {
  constructor(message: string) {
    super(message, { code: 'forbidden', status: 403 });
  }
}

/** A request body exceeds the size limit. */
export class PayloadTooLargeError extends AppError {
  readonly limitBytes: number;

  constructor(limitBytes: number) {
    super(`The request body is larger than ${limitBytes} bytes`, { code: 'payload_too_large', status: 413 });
    this.limitBytes = limitBytes;
  }
}

/** A request body in a media type the route does not read. */
export class UnsupportedMediaTypeError extends AppError {
  constructor(message: string) {
    super(message, { code: 'unsupported_media_type', status: 415 });
  }
}

/** The route exists, but not for this HTTP method; `allow` lists the methods it has. */
export class MethodNotAllowedError extends AppError {
  readonly allow: readonly string[];

  constructor(method: string, path: string, allow: readonly string[]) {
    super(`${method} is not allowed on ${path}; allowed: ${allow.join(', ')}`, {
      code: 'method_not_allowed',
      status: 405,
    });
    this.allow = allow;
  }
}

/** Turns anything thrown into an `Error`, so callers can rely on `message` and `cause`. */
export function ensureError(value: unknown): Error {
  if (value instanceof Error) return value;
  let text: string;
  try {
    text = typeof value === 'string' ? value : JSON.stringify(value);
  } catch {
    text = String(value);
  }
  return new Error(`Non-error thrown: ${text}`);
}

/** The HTTP status an Azure SDK error carries (RestError.statusCode), if any. */
export function statusCodeOf(error: unknown): number | undefined {
  // RestError.statusCode is a number; a numeric string is accepted too (the table budget coerced with Number()).
  const status = (error as { statusCode?: unknown } | null | undefined)?.statusCode;
  if (typeof status === 'number') return status;
  if (typeof status === 'string' && status.trim() !== '' && Number.isFinite(Number(status)))
    return Number(status);
  return undefined;
}

/** True when `error` is one of ours that says a retry may succeed. */
export function isRetryable(error: unknown): boolean {
  return error instanceof AppError && error.retryable;
}
