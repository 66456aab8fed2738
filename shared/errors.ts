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

  constructor(message: string, issues: readonly FieldIssue[] = [], cause?: unknown) {
    super(
      issues.length ? `${message}: ${issues.map((i) => `${i.field}: ${i.message}`).join('; ')}` : message,
      { code: 'validation_failed', status: 400, cause },
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
