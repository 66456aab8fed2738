/**
 * The app's store for ActiveCampaign API keys: one Key Vault secret per connection.
 *
 * Keys live only here (docs/architecture.md, "Security"): table records hold the connection id, and this adapter turns it into a
 * secret name. Values never reach a log line or an error message.
 */
import type { TokenCredential } from '@azure/core-auth';
import { SecretClient, type SecretClientOptions } from '@azure/keyvault-secrets';

import { statusCodeOf, ValidationError } from '../../errors';
import { toSecretName } from './secretName';
import { type SecretCallContext, toSecretStoreError } from './secretStoreError';

/** Where API keys are kept; implemented over Key Vault, and by fakes in unit tests of its callers. */
export interface SecretStore {
  /** Stores (or replaces) the API key of a connection. */
  putApiKey(connectionId: string, apiKey: string): Promise<void>;
  /** The API key of a connection; throws `NotFoundError` when none is stored. */
  getApiKey(connectionId: string): Promise<string>;
  /** Deletes the API key of a connection; succeeds when there is none. */
  deleteApiKey(connectionId: string): Promise<void>;
}

/** The few log calls the store makes; an `InvocationContext` fits. Messages never hold secret values. */
export interface SecretStoreLogger {
  info(message: string): void;
  warn(message: string): void;
}

export interface KeyVaultSecretStoreOptions {
  /** The vault, e.g. `https://my-vault.vault.azure.net` or the emulator's `https://127.0.0.1:<port>`. */
  vaultUrl: string;
  credential: TokenCredential;
  logger?: SecretStoreLogger;
  /** Poll interval of delete/recover operations; the SDK's default (2 s) suits Azure. */
  pollIntervalMs?: number;
  /** Passed to `SecretClient` (e.g. `retryOptions` in tests). */
  clientOptions?: SecretClientOptions;
}

const silentLogger: SecretStoreLogger = { info: () => undefined, warn: () => undefined };

/** True for `localhost`, `127.0.0.0/8` and `::1` URLs: only the local emulator lives there. */
export function isLoopbackUrl(url: string): boolean {
  const host = new URL(url).hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);
}

/** A `SecretStore` over `@azure/keyvault-secrets`. */
export function createKeyVaultSecretStore(options: KeyVaultSecretStoreOptions): SecretStore {
  const logger = options.logger ?? silentLogger;
  const pollOptions = { intervalInMs: options.pollIntervalMs ?? 2_000 };
  const client = new SecretClient(options.vaultUrl, options.credential, {
    ...options.clientOptions,
    // The challenge names `vault.azure.net`; a loopback emulator cannot match it, a real vault must.
    disableChallengeResourceVerification: isLoopbackUrl(options.vaultUrl),
  });

  const context = (operation: SecretCallContext['operation'], connectionId: string): SecretCallContext => ({
    operation,
    connectionId,
    secretName: toSecretName(connectionId),
  });

  async function set(ctx: SecretCallContext, apiKey: string): Promise<string | undefined> {
    const secret = await client.setSecret(ctx.secretName, apiKey, {
      contentType: 'text/plain',
      tags: { purpose: 'activecampaign-api-key', connectionId: ctx.connectionId.slice(0, 256) },
    });
    return secret.properties.version;
  }

  return {
    async putApiKey(connectionId, apiKey) {
      const ctx = context('put', connectionId);
      if (typeof apiKey !== 'string' || apiKey.trim().length === 0) {
        throw new ValidationError('Invalid API key', [{ field: 'apiKey', message: 'must not be empty' }]);
      }
      let version: string | undefined;
      try {
        version = await set(ctx, apiKey);
      } catch (error) {
        if (statusCodeOf(error) !== 409) throw toSecretStoreError(error, ctx, apiKey);
        // 409: a deleted secret of this name awaits purge (soft delete); its name cannot be reused until it
        // is recovered or purged. Recovering needs no purge permission and works under purge protection.
        // https://learn.microsoft.com/azure/key-vault/general/soft-delete-overview
        logger.warn(`Recovering soft-deleted secret '${ctx.secretName}' to store a new API key version`);
        try {
          const poller = await client.beginRecoverDeletedSecret(ctx.secretName, pollOptions);
          await poller.pollUntilDone();
          version = await set(ctx, apiKey);
        } catch (retryError) {
          throw toSecretStoreError(retryError, { ...ctx, operation: 'recover' }, apiKey);
        }
      }
      logger.info(
        `Stored the API key of connection '${connectionId}' in secret '${ctx.secretName}' (version ${version ?? '?'})`,
      );
    },

    async getApiKey(connectionId) {
      const ctx = context('get', connectionId);
      let value: string | undefined;
      try {
        value = (await client.getSecret(ctx.secretName)).value;
      } catch (error) {
        throw toSecretStoreError(error, ctx);
      }
      if (value === undefined || value.length === 0) {
        throw toSecretStoreError(new Error('the secret has no value'), ctx);
      }
      return value;
    },

    async deleteApiKey(connectionId) {
      const ctx = context('delete', connectionId);
      try {
        const poller = await client.beginDeleteSecret(ctx.secretName, pollOptions);
        await poller.pollUntilDone();
      } catch (error) {
        if (statusCodeOf(error) === 404) return; // nothing stored: deleting is idempotent
        throw toSecretStoreError(error, ctx);
      }
      logger.info(
        `Deleted the API key of connection '${connectionId}' (secret '${ctx.secretName}', soft delete)`,
      );
    },
  };
}
