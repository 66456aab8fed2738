import { randomUUID } from 'node:crypto';
import { inspect } from 'node:util';

import { AzureLogger, getLogLevel, setLogLevel } from '@azure/logger';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';

import { type RunningKeyVaultEmulator, startKeyVaultEmulator } from '../../../dev/keyvault/emulator';
import { createSecretStore } from '../../../shared/adapters/keyvault/createSecretStore';
import {
  createKeyVaultSecretStore,
  type SecretStoreLogger,
} from '../../../shared/adapters/keyvault/secretStore';
import { SecretStoreError } from '../../../shared/adapters/keyvault/secretStoreError';
import { StaticTokenCredential } from '../../../shared/adapters/keyvault/staticTokenCredential';
import { NotFoundError } from '../../../shared/errors';

/** Everything anyone logged during a test: the store's logger, the emulator and the Azure SDK (verbose). */
const captured: string[] = [];
const storeLogger: SecretStoreLogger = {
  info: (message) => captured.push(`store info: ${message}`),
  warn: (message) => captured.push(`store warn: ${message}`),
};

function apiKey(): string {
  // Shaped like an ActiveCampaign key (64 hex characters).
  return (randomUUID() + randomUUID()).replace(/-/g, '');
}

/** Every way an error could reach a log or a response. */
function renderings(error: unknown): string {
  return [
    String(error),
    (error as Error).message,
    (error as Error).stack ?? '',
    inspect(error, { depth: 10, showHidden: true }),
    JSON.stringify(error),
  ].join('\n');
}

describe('KeyVaultSecretStore against the Key Vault emulator', () => {
  let emulator: RunningKeyVaultEmulator;
  const originalLog = AzureLogger.log;
  const originalLevel = getLogLevel();

  beforeAll(async () => {
    // Default token: the one createSecretStore uses in LOCAL_DEV_MODE.
    emulator = await startKeyVaultEmulator({
      tls: { certPath: inject('keyVaultCertPath'), keyPath: inject('keyVaultKeyPath') },
      log: (line) => captured.push(`emulator: ${line}`),
    });
    setLogLevel('verbose');
    AzureLogger.log = (...args: unknown[]) => captured.push(`sdk: ${args.map(String).join(' ')}`);
  });
  afterAll(async () => {
    AzureLogger.log = originalLog;
    setLogLevel(originalLevel);
    await emulator.stop();
  });
  afterEach(() => {
    captured.length = 0;
  });

  const localStore = () =>
    createSecretStore(
      { KEY_VAULT_URL: emulator.url, LOCAL_DEV_MODE: true },
      { logger: storeLogger, pollIntervalMs: 20, clientOptions: { retryOptions: { maxRetries: 0 } } },
    );

  it('round-trips an API key, replaces it, and deletes it idempotently', async () => {
    const store = localStore();
    const connectionId = randomUUID();
    const [first, second] = [apiKey(), apiKey()];

    await store.putApiKey(connectionId, first);
    expect(await store.getApiKey(connectionId)).toBe(first);
    await store.putApiKey(connectionId, second);
    expect(await store.getApiKey(connectionId)).toBe(second);

    await store.deleteApiKey(connectionId);
    await expect(store.getApiKey(connectionId)).rejects.toBeInstanceOf(NotFoundError);
    await store.deleteApiKey(connectionId); // already gone: still succeeds

    // The emulator holds it under the escaped name, soft-deleted.
    const stored = emulator.snapshot().deleted.map((d) => d.secret.name);
    expect(stored).toContain(`ac-key-${connectionId.replace(/-/g, '-2d')}`);
  });

  it('stores a key again for a connection whose previous key was soft-deleted', async () => {
    const store = localStore();
    const connectionId = `Conn_${randomUUID().slice(0, 8)}`;
    await store.putApiKey(connectionId, apiKey());
    await store.deleteApiKey(connectionId);
    const replacement = apiKey();
    await store.putApiKey(connectionId, replacement); // 409 from Key Vault → recover → new version
    expect(await store.getApiKey(connectionId)).toBe(replacement);
    expect(captured.join('\n')).toContain('POST /deletedsecrets/ac-key--43onn-5f');
  });

  it('keeps the key out of errors and logs when the credential is wrong', async () => {
    const key = apiKey();
    const store = createKeyVaultSecretStore({
      vaultUrl: emulator.url,
      credential: new StaticTokenCredential('a-token-the-emulator-does-not-accept'),
      logger: storeLogger,
      clientOptions: { retryOptions: { maxRetries: 0 } },
    });
    const error = await store.putApiKey('conn-wrong-credential', key).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(SecretStoreError);
    expect(error).toMatchObject({ code: 'secret_store_denied', retryable: false, upstreamStatus: 401 });
    expect(captured.join('\n')).toContain('PUT /secrets/ac-key-conn-2dwrong-2dcredential -> 401');
    expect(renderings(error)).not.toContain(key);
    expect(captured.join('\n')).not.toContain(key);
  });

  it('keeps the key out of errors and logs when the secret is missing or the call fails', async () => {
    const key = apiKey();
    const store = localStore();
    await store.putApiKey('conn-present', key);
    const missing = await store.getApiKey('conn-absent').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(missing).toBeInstanceOf(NotFoundError);
    expect((missing as Error).message).toBe("No API key is stored for connection 'conn-absent'");

    // A vault that no longer answers: a transport error, retryable.
    const gone = await startKeyVaultEmulator({
      tls: { certPath: inject('keyVaultCertPath'), keyPath: inject('keyVaultKeyPath') },
    });
    await gone.stop();
    const unreachable = createSecretStore(
      { KEY_VAULT_URL: gone.url, LOCAL_DEV_MODE: true },
      { logger: storeLogger, clientOptions: { retryOptions: { maxRetries: 0 } } },
    );
    const transport = await unreachable.putApiKey('conn-present', key).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(transport).toMatchObject({ code: 'secret_store_unavailable', retryable: true });

    const logs = captured.join('\n');
    expect(logs).toContain('sdk: '); // the SDK's verbose log was captured...
    expect(logs).toContain('ac-key-conn-2dpresent'); // ...including these calls
    for (const rendered of [renderings(missing), renderings(transport), logs])
      expect(rendered).not.toContain(key);
  });
});
