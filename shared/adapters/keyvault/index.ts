/** The Key Vault adapter: where ActiveCampaign API keys are kept. */
export { chooseCredentialKind, createSecretStore, type SecretStoreCredentialKind } from './createSecretStore';
export { API_KEY_SECRET_PREFIX, fromSecretName, toSecretName } from './secretName';
export {
  createKeyVaultSecretStore,
  isLoopbackUrl,
  type KeyVaultSecretStoreOptions,
  type SecretStore,
  type SecretStoreLogger,
} from './secretStore';
export { type SecretCallContext, SecretStoreError, toSecretStoreError } from './secretStoreError';
export { LOCAL_KEY_VAULT_TOKEN, StaticTokenCredential } from './staticTokenCredential';
