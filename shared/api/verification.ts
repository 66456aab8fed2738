/**
 * Checks against ActiveCampaign before anything is saved: the key and host (`GET /api/3/users/me`) and
 * a list (`GET /api/3/lists/{id}`). Failures become 4xx answers that name the cause (bad key, unknown
 * host, unreachable, not ActiveCampaign, no such list), never the key.
 */
import {
  ActiveCampaignNotFoundError,
  AuthenticationError,
  HostRuleError,
  NetworkError,
  TimeoutError,
  UnexpectedResponseError,
} from '../adapters/activecampaign';
import { ValidationError } from '../errors';
import type { ApiServices } from './services';

/** ActiveCampaign refused, or could not be reached for, a verification; always names the cause. */
export class VerificationFailedError extends ValidationError {
  constructor(field: string, message: string, code: string) {
    // A 422: the request was well-formed, but ActiveCampaign says it cannot work.
    super('ActiveCampaign verification failed', [{ field, message }], undefined, { code, status: 422 });
  }
}

function causeCode(error: unknown): string | undefined {
  for (let e: unknown = error, depth = 0; e && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^E[A-Z_]+$/.test(code)) return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/** The HostRuleError of a host, re-pointed at the body field it came from. */
function hostFieldError(error: HostRuleError, field: string): ValidationError {
  return new ValidationError(
    'Invalid ActiveCampaign host',
    error.issues.map((i) => ({ field, message: i.message })),
  );
}

/** Verifies key and host with `users/me`; throws a 4xx naming the cause. */
export async function verifyCredentials(
  services: ApiServices,
  hostname: string,
  apiKey: string,
  hostField = 'body.hostname',
): Promise<void> {
  try {
    await services.activeCampaign(hostname, apiKey).verifyCredentials();
  } catch (error) {
    throw toVerificationError(error, hostname, hostField);
  }
}

/** Verifies that list `listId` exists in the account; throws a 4xx naming the cause. */
export async function verifyList(
  services: ApiServices,
  connection: { hostname: string; id: string },
  apiKey: string,
  listId: number,
): Promise<void> {
  try {
    await services.activeCampaign(connection.hostname, apiKey).getList(listId);
  } catch (error) {
    if (error instanceof ActiveCampaignNotFoundError) {
      throw new VerificationFailedError(
        'body.listId',
        `list ${listId} does not exist in the ActiveCampaign account of connection "${connection.id}"`,
        'activecampaign_list_not_found',
      );
    }
    throw toVerificationError(error, connection.hostname, 'connection.hostname');
  }
}

function toVerificationError(error: unknown, hostname: string, hostField: string): unknown {
  const host = hostname.trim().slice(0, 100);
  if (error instanceof HostRuleError) return hostFieldError(error, hostField);
  if (error instanceof AuthenticationError) {
    return new VerificationFailedError(
      'body.apiKey',
      `ActiveCampaign at ${host} refused the API key (bad key, or a key of another account)`,
      'activecampaign_bad_key',
    );
  }
  if (error instanceof NetworkError) {
    const code = causeCode(error);
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_NONAME') {
      return new VerificationFailedError(
        hostField,
        `unknown host: ${host} does not resolve (check the API URL)`,
        'activecampaign_unknown_host',
      );
    }
    return new VerificationFailedError(
      hostField,
      `unreachable: could not connect to ${host}${code ? ` (${code})` : ''}`,
      'activecampaign_unreachable',
    );
  }
  if (error instanceof TimeoutError) {
    return new VerificationFailedError(
      hostField,
      `unreachable: ${host} did not answer in time`,
      'activecampaign_unreachable',
    );
  }
  if (error instanceof UnexpectedResponseError || error instanceof ActiveCampaignNotFoundError) {
    return new VerificationFailedError(
      hostField,
      `${host} answered, but not as the ActiveCampaign API does (check the API URL)`,
      'activecampaign_unexpected_response',
    );
  }
  return error;
}
