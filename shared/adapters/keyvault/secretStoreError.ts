/**
 * Maps whatever the Key Vault SDK throws onto the project's error family.
 *
 * The SDK's `RestError` carries the request (for `setSecret`, a body holding the secret value) on
 * non-enumerable properties. Rather than rely on the SDK's sanitizer to hide it whenever someone logs
 * the error, the original is not kept as `cause`: the mapped error carries only a summary (status,
 * Key Vault error code, first line of the message) with any known secret value scrubbed.
 */
import { AppError, NotFoundError, statusCodeOf } from '../../errors';

/** A Key Vault call failed; `retryable` says whether trying again later may help. */
export class SecretStoreError extends AppError {
  /** HTTP status from Key Vault, if a response arrived. */
  readonly upstreamStatus: number | undefined;
  /** Key Vault's (or the transport's) error code, e.g. `Forbidden`, `Throttled`, `ECONNREFUSED`. */
  readonly upstreamCode: string | undefined;

  constructor(
    message: string,
    options: { code: string; retryable: boolean; upstreamStatus?: number; upstreamCode?: string },
  ) {
    super(message, {
      code: options.code,
      retryable: options.retryable,
      status: options.retryable ? 503 : 500,
    });
    this.upstreamStatus = options.upstreamStatus;
    this.upstreamCode = options.upstreamCode;
  }
}

/** What the failing call was doing, for the message (never the secret value). */
export interface SecretCallContext {
  operation: 'put' | 'get' | 'delete' | 'recover';
  connectionId: string;
  secretName: string;
}

/** The safe facts of an SDK, identity or transport error. */
interface ErrorFacts {
  name: string | undefined;
  status: number | undefined;
  code: string | undefined;
  message: string;
}

// Transport failures worth retrying: the vault or the network was briefly unavailable.
const TRANSIENT_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENOTFOUND',
  'REQUEST_SEND_ERROR',
  'UND_ERR_SOCKET',
]);

/**
 * Converts an error thrown by `SecretClient` (or its credential) into a `NotFoundError` or `SecretStoreError`;
 * `secretValue`, when the caller holds it, is scrubbed from the message.
 */
export function toSecretStoreError(
  error: unknown,
  context: SecretCallContext,
  secretValue?: string,
): AppError {
  const facts = factsOf(error, secretValue);
  const what = `Key Vault ${context.operation} of the API key for connection '${context.connectionId}' (secret '${context.secretName}')`;
  const detail = [facts.status, facts.code].filter((x) => x !== undefined).join(' ');
  const summary = `${what} failed${detail ? ` (${detail})` : ''}: ${facts.message}`;
  const upstream = { upstreamStatus: facts.status, upstreamCode: facts.code };

  if (facts.status === 404) {
    return new NotFoundError(`No API key is stored for connection '${context.connectionId}'`);
  }
  // Identity failures: no managed identity here, or the token endpoint said no.
  if (facts.name === 'CredentialUnavailableError') {
    return new SecretStoreError(summary, {
      code: 'secret_store_no_credential',
      retryable: false,
      ...upstream,
    });
  }
  if (facts.status === 401 || facts.status === 403) {
    // 401: the token was refused; 403: the identity lacks an access policy / RBAC role, or the secret
    // is disabled. Neither changes by retrying.
    return new SecretStoreError(summary, { code: 'secret_store_denied', retryable: false, ...upstream });
  }
  if (facts.status === 429 || (facts.status !== undefined && facts.status >= 500)) {
    // Key Vault throttles per vault and per identity; back off and retry
    // (https://learn.microsoft.com/azure/key-vault/general/overview-throttling).
    return new SecretStoreError(summary, { code: 'secret_store_unavailable', retryable: true, ...upstream });
  }
  if (facts.status === undefined && facts.code !== undefined && TRANSIENT_CODES.has(facts.code)) {
    return new SecretStoreError(summary, { code: 'secret_store_unavailable', retryable: true, ...upstream });
  }
  if (facts.name === 'AbortError') {
    return new SecretStoreError(summary, { code: 'secret_store_aborted', retryable: false, ...upstream });
  }
  return new SecretStoreError(summary, { code: 'secret_store_failed', retryable: false, ...upstream });
}

function factsOf(error: unknown, secretValue: string | undefined): ErrorFacts {
  if (typeof error !== 'object' || error === null) {
    return { name: undefined, status: undefined, code: undefined, message: 'non-error thrown' };
  }
  const record = error as Record<string, unknown>;
  const status = statusCodeOf(error);
  const code = typeof record.code === 'string' ? record.code : undefined;
  const name = typeof record.name === 'string' ? record.name : undefined;
  const text = typeof record.message === 'string' ? firstLine(record.message) : 'unknown error';
  // Belt and braces: Key Vault never echoes a value in its messages, but a proxy or a future SDK might.
  const message = secretValue ? text.split(secretValue).join('[redacted]') : text;
  return { name, status, code, message };
}

// Identity errors append multi-line troubleshooting text; the first line says what happened.
function firstLine(text: string): string {
  const line = text.split('\n', 1)[0]!.trim();
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}
