import { inspect } from 'node:util';

import { createHttpHeaders, createPipelineRequest, RestError } from '@azure/core-rest-pipeline';
import { CredentialUnavailableError } from '@azure/identity';
import { describe, expect, it } from 'vitest';

import { SecretStoreError, toSecretStoreError } from '../../../../shared/adapters/keyvault/secretStoreError';
import { isRetryable, NotFoundError } from '../../../../shared/errors';

const KEY = 'f00dfeedf00dfeedf00dfeedf00dfeedf00dfeedf00dfeedf00dfeedf00dfeed';
const context = { operation: 'put', connectionId: 'conn-1', secretName: 'ac-key-conn-2d1' } as const;

/** A RestError as the SDK throws it for `setSecret`: the request body holds the value. */
function restError(
  status: number | undefined,
  code: string | undefined,
  message = 'Key Vault said no',
): RestError {
  const request = createPipelineRequest({
    url: 'https://vault.example/secrets/ac-key-conn-2d1?api-version=2025-07-01',
  });
  request.method = 'PUT';
  request.body = JSON.stringify({ value: KEY });
  return new RestError(message, {
    statusCode: status,
    code,
    request,
    response:
      status === undefined
        ? undefined
        : { status, headers: createHttpHeaders(), request, bodyAsText: '{"error":{}}' },
  });
}

describe('toSecretStoreError', () => {
  it('maps 404 to NotFoundError naming the connection', () => {
    const error = toSecretStoreError(restError(404, 'SecretNotFound'), { ...context, operation: 'get' });
    expect(error).toBeInstanceOf(NotFoundError);
    expect(error.message).toBe("No API key is stored for connection 'conn-1'");
  });

  it.each([
    [401, 'Unauthorized'],
    [403, 'Forbidden'],
  ])('maps %i to a permanent secret_store_denied error', (status, code) => {
    const error = toSecretStoreError(restError(status, code), context);
    expect(error).toBeInstanceOf(SecretStoreError);
    expect(error).toMatchObject({ code: 'secret_store_denied', retryable: false, upstreamStatus: status });
    expect(error.message).toContain(`(${status} ${code})`);
  });

  it.each([
    [429, 'Throttled'],
    [500, 'InternalServerError'],
    [503, 'ServiceUnavailable'],
  ])('maps %i to a retryable secret_store_unavailable error', (status, code) => {
    const error = toSecretStoreError(restError(status, code), context);
    expect(error).toMatchObject({ code: 'secret_store_unavailable', retryable: true, status: 503 });
    expect(isRetryable(error)).toBe(true);
  });

  it('maps transport failures without a response to retryable', () => {
    for (const code of ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', RestError.REQUEST_SEND_ERROR]) {
      expect(toSecretStoreError(restError(undefined, code), context).retryable).toBe(true);
    }
  });

  it('maps TLS verification failures and bad requests to permanent errors', () => {
    expect(toSecretStoreError(restError(undefined, 'SELF_SIGNED_CERT_IN_CHAIN'), context).retryable).toBe(
      false,
    );
    expect(toSecretStoreError(restError(400, 'BadParameter'), context)).toMatchObject({
      code: 'secret_store_failed',
      retryable: false,
    });
  });

  it('maps a missing managed identity to a permanent secret_store_no_credential error', () => {
    const error = toSecretStoreError(
      new CredentialUnavailableError('ManagedIdentityCredential: no endpoint\nsee docs'),
      context,
    );
    expect(error).toMatchObject({ code: 'secret_store_no_credential', retryable: false });
    expect(error.message).not.toContain('see docs'); // only the first line of multi-line identity errors
  });

  it('keeps the secret value out of the mapped error even when the original carries it', () => {
    const original = restError(401, 'Unauthorized', `echoing ${KEY} back`);
    const error = toSecretStoreError(original, context, KEY);
    expect(error.cause).toBeUndefined(); // the RestError with its request body is not kept
    const rendered = [
      error.message,
      error.stack,
      inspect(error, { depth: 10, showHidden: true }),
      JSON.stringify(error),
    ];
    for (const text of rendered) expect(text).not.toContain(KEY);
    expect(error.message).toContain('echoing [redacted] back');
  });

  it('names the operation, connection and secret in the message', () => {
    const error = toSecretStoreError(restError(403, 'Forbidden'), { ...context, operation: 'delete' });
    expect(error.message).toMatch(
      /^Key Vault delete of the API key for connection 'conn-1' \(secret 'ac-key-conn-2d1'\) failed/,
    );
  });

  it('copes with non-errors being thrown', () => {
    expect(toSecretStoreError('boom', context)).toMatchObject({
      code: 'secret_store_failed',
      retryable: false,
    });
  });
});
