/**
 * Telemetry through the host's logging: everything here writes lines to an injected logger (an
 * `InvocationContext`'s `log`/`error`), which the Functions host sends to Application Insights as
 * `traces`. No Application Insights SDK: the host's own pipeline is what runs in Azure.
 *
 * - Structured events are one line: `TELEMETRY_EVENT_PREFIX` followed by a JSON object whose `event`
 *   names it. The alert rule in `infra/main.json` queries exactly this shape (see docs/deployment.md).
 * - Trace lines of a run carry `exportId=<id> runId=<id>` so one run's lines can be found together.
 * - Every line is redacted: values passed as secrets, and anything that looks like an API key or token.
 * https://learn.microsoft.com/azure/azure-functions/functions-reference-node#logging
 */
import { z } from 'zod';

/** The fixed start of every structured event line (what the alert rule's query looks for). */
export const TELEMETRY_EVENT_PREFIX = 'SegmentExportEvent ';

/** The event a run emits once when it ends `failed` (after its own retries). */
export const EXPORT_RUN_FAILED_EVENT = 'ExportRunFailed';

/** What replaces a redacted value. */
export const REDACTED = '[redacted]';

/** The longest `reason` an event carries; longer ones are cut (a reason is a message, not a dump). */
export const MAX_REASON_LENGTH = 2000;

/** The logging surface these helpers need: an `InvocationContext` satisfies it. */
export interface TelemetryLogger {
  log(...args: unknown[]): void;
  error(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  info(...args: unknown[]): void;
  debug(...args: unknown[]): void;
  trace(...args: unknown[]): void;
}

/** The `ExportRunFailed` event: the single source of its fields (the alert rule projects them). */
export const exportRunFailedEventSchema = z.object({
  event: z.literal(EXPORT_RUN_FAILED_EVENT),
  exportId: z.string().min(1),
  runId: z.string().min(1),
  /** Why the run failed, in words (an error message, redacted and cut to `MAX_REASON_LENGTH`). */
  reason: z.string().min(1),
  /** What started the run, e.g. `manual`, `schedule`, `blob`. */
  trigger: z.string().min(1),
  /** The `AppError` code of the failure, when there was one. */
  code: z.string().min(1).optional(),
  /** When the run was declared failed (ISO 8601, from the orchestration's clock). */
  failedAt: z.iso.datetime(),
});

/** A parsed `ExportRunFailed` event. */
export type ExportRunFailedEvent = z.infer<typeof exportRunFailedEventSchema>;

/** What the caller knows about a failed run; `event` is added here. */
export type ExportRunFailedDetails = Omit<ExportRunFailedEvent, 'event'>;

// Values that look like credentials wherever they appear: ActiveCampaign keys are long hex strings
// (72 characters); 40+ hex characters never occur in our ids (Durable instance ids are 32).
const LONG_HEX = /\b[0-9a-f]{40,}\b/gi;
// JSON Web Tokens (bearer tokens from Entra ID / managed identity).
const JWT = /\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/g;
// `Bearer <token>` in a header or message.
const BEARER = /\b(Bearer\s+)[A-Za-z0-9._~+/=-]+/gi;
// `name=value` / `name: value` pairs whose name says secret: headers and connection strings.
const SECRET_PAIR =
  /\b(api[-_]?token|api[-_]?key|apikey|account[-_]?key|shared[-_]?access[-_]?key|sharedaccesssignature|client[-_]?secret|access[-_]?token|token|password|secret|x-functions-key)(["']?\s*[:=]\s*["']?)([^\s"'&;,]+)/gi;
// SAS signatures and function keys in URLs (`?sig=…`, `&code=…`); `code:` in prose is an error code.
const SECRET_QUERY = /([?&](?:sig|code)=)[^&\s"'#]+/gi;
// Object keys whose value is never logged, whatever it looks like.
const SECRET_KEY = /^(api[-_]?token|api[-_]?key|apikey|key|password|secret|token|authorization|sig)$/i;

/** `text` with every given secret value and every API-key- or token-looking value replaced. */
export function redactSecrets(text: string, secrets: readonly string[] = []): string {
  let out = text;
  // Longest first, so a secret that contains another is removed whole.
  for (const secret of [...secrets].sort((a, b) => b.length - a.length)) {
    if (secret.length >= 4) out = out.split(secret).join(REDACTED);
  }
  return out
    .replace(JWT, REDACTED)
    .replace(BEARER, `$1${REDACTED}`)
    .replace(SECRET_PAIR, `$1$2${REDACTED}`)
    .replace(SECRET_QUERY, `$1${REDACTED}`)
    .replace(LONG_HEX, REDACTED);
}

/** A copy of `value` (JSON-like) with secret-named keys blanked and every string redacted. */
export function redactValue(value: unknown, secrets: readonly string[] = []): unknown {
  if (typeof value === 'string') return redactSecrets(value, secrets);
  if (Array.isArray(value)) return value.map((item) => redactValue(item, secrets));
  if (value instanceof Error) return redactSecrets(value.message, secrets);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [
        key,
        SECRET_KEY.test(key) && item !== undefined ? REDACTED : redactValue(item, secrets),
      ]),
    );
  }
  return value;
}

/** Emits the `ExportRunFailed` event through `logger.error` as one line, and returns that line. */
export function emitExportRunFailed(
  logger: Pick<TelemetryLogger, 'error'>,
  details: ExportRunFailedDetails,
  options: { secrets?: readonly string[] } = {},
): string {
  const secrets = options.secrets ?? [];
  const reason = redactSecrets(details.reason, secrets);
  const event = exportRunFailedEventSchema.parse({
    event: EXPORT_RUN_FAILED_EVENT,
    exportId: redactSecrets(details.exportId, secrets),
    runId: redactSecrets(details.runId, secrets),
    reason: reason.length > MAX_REASON_LENGTH ? `${reason.slice(0, MAX_REASON_LENGTH - 1)}…` : reason,
    trigger: redactSecrets(details.trigger, secrets),
    ...(details.code === undefined ? {} : { code: redactSecrets(details.code, secrets) }),
    failedAt: details.failedAt,
  });
  const line = `${TELEMETRY_EVENT_PREFIX}${JSON.stringify(event)}`;
  logger.error(line);
  return line;
}

/** The structured event in `line`, or undefined when the line is not one (wrong prefix or not JSON). */
export function parseTelemetryEventLine(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith(TELEMETRY_EVENT_PREFIX)) return undefined;
  try {
    const parsed: unknown = JSON.parse(line.slice(TELEMETRY_EVENT_PREFIX.length));
    return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** The ids one run's trace lines carry. */
export interface RunIds {
  exportId: string;
  runId?: string;
}

/** The `exportId=… runId=…` tag a run's trace lines start with. */
export function runTag(ids: RunIds): string {
  return ids.runId === undefined ? `exportId=${ids.exportId}` : `exportId=${ids.exportId} runId=${ids.runId}`;
}

/**
 * A logger that writes through `logger` with every line tagged `exportId=… runId=…` and every argument
 * redacted (`secrets` plus anything key-looking), for tracing runs, slices and ActiveCampaign calls.
 */
export function runLogger(
  logger: TelemetryLogger,
  ids: RunIds,
  options: { secrets?: readonly string[] } = {},
): TelemetryLogger {
  const secrets = options.secrets ?? [];
  const tag = runTag(ids);
  const wrap =
    (write: (...args: unknown[]) => void) =>
    (...args: unknown[]): void => {
      const [first, ...rest] = args.map((arg) => redactValue(arg, secrets));
      const head = typeof first === 'string' ? first : JSON.stringify(first);
      write(`${tag} ${head ?? ''}`.trimEnd(), ...rest);
    };
  return {
    log: wrap((...a) => logger.log(...a)),
    error: wrap((...a) => logger.error(...a)),
    warn: wrap((...a) => logger.warn(...a)),
    info: wrap((...a) => logger.info(...a)),
    debug: wrap((...a) => logger.debug(...a)),
    trace: wrap((...a) => logger.trace(...a)),
  };
}
