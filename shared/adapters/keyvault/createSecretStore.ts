/**
 * Builds the app's `SecretStore` from its settings, choosing how to authenticate to Key Vault:
 * - in Azure: the Function App's managed identity (`ManagedIdentityCredential`), the user-assigned one
 *   named by `AZURE_CLIENT_ID` when it is set (the deployment in `infra/` sets it);
 * - `LOCAL_DEV_MODE` with a loopback `KEY_VAULT_URL`: the local emulator's static token;
 * - `LOCAL_DEV_MODE` with a real vault: `DefaultAzureCredential` (e.g. the developer's `az login`).
 * https://learn.microsoft.com/azure/developer/javascript/sdk/authentication/overview
 */
import type { TokenCredential } from '@azure/core-auth';
import { DefaultAzureCredential, ManagedIdentityCredential } from '@azure/identity';

import type { Config } from '../../config';
import { ConfigError } from '../../errors';
import {
  createKeyVaultSecretStore,
  isLoopbackUrl,
  type KeyVaultSecretStoreOptions,
  type SecretStore,
} from './secretStore';
import { StaticTokenCredential } from './staticTokenCredential';

/** Which credential `createSecretStore` uses; exposed so the choice is testable without Azure. */
export type SecretStoreCredentialKind =
  'managed-identity' | 'emulator-static-token' | 'default-azure-credential';

/** Decides the credential kind for these settings, or throws `ConfigError` for an unusable combination. */
export function chooseCredentialKind(
  config: Pick<Config, 'KEY_VAULT_URL' | 'LOCAL_DEV_MODE'>,
): SecretStoreCredentialKind {
  const vaultUrl = requireVaultUrl(config);
  const loopback = isLoopbackUrl(vaultUrl);
  if (loopback && !config.LOCAL_DEV_MODE) {
    throw new ConfigError([
      {
        field: 'KEY_VAULT_URL',
        message: 'a loopback Key Vault (the emulator) is allowed only with LOCAL_DEV_MODE',
      },
    ]);
  }
  if (loopback) return 'emulator-static-token';
  if (new URL(vaultUrl).protocol !== 'https:') {
    throw new ConfigError([{ field: 'KEY_VAULT_URL', message: 'must be an https URL' }]);
  }
  return config.LOCAL_DEV_MODE ? 'default-azure-credential' : 'managed-identity';
}

/** The app's `SecretStore` for `config`; `overrides` replace the chosen credential or tune the client. */
export function createSecretStore(
  config: Pick<Config, 'KEY_VAULT_URL' | 'LOCAL_DEV_MODE' | 'AZURE_CLIENT_ID'>,
  overrides: Partial<Omit<KeyVaultSecretStoreOptions, 'vaultUrl'>> = {},
): SecretStore {
  const kind = chooseCredentialKind(config);
  return createKeyVaultSecretStore({
    ...overrides,
    vaultUrl: requireVaultUrl(config),
    credential: overrides.credential ?? credentialFor(kind, config),
  });
}

/** The credential `createSecretStore` uses for `kind`; exported so tests can ask it for a token. */
export function credentialFor(
  kind: SecretStoreCredentialKind,
  config: Pick<Config, 'AZURE_CLIENT_ID'>,
): TokenCredential {
  switch (kind) {
    case 'emulator-static-token':
      return new StaticTokenCredential();
    case 'default-azure-credential':
      return new DefaultAzureCredential();
    case 'managed-identity':
      // The user-assigned identity `AZURE_CLIENT_ID` names (the deployment's one identity), else the
      // system-assigned one; it needs secret get/set/delete/recover rights ("Key Vault Secrets Officer").
      return config.AZURE_CLIENT_ID
        ? new ManagedIdentityCredential({ clientId: config.AZURE_CLIENT_ID })
        : new ManagedIdentityCredential();
  }
}

function requireVaultUrl(config: Pick<Config, 'KEY_VAULT_URL'>): string {
  if (!config.KEY_VAULT_URL) {
    throw new ConfigError([
      { field: 'KEY_VAULT_URL', message: 'is required to store ActiveCampaign API keys' },
    ]);
  }
  return config.KEY_VAULT_URL;
}
