/**
 * A `TokenCredential` that always returns one fixed bearer token. Only for the local Key Vault emulator
 * (`dev/keyvault`), which accepts exactly such tokens; Azure uses managed identity instead.
 */
import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/core-auth';

/**
 * The token the Key Vault emulator accepts by default. Like Azurite's account key it is public and
 * grants access to nothing but a local emulator, so it is not a secret.
 */
export const LOCAL_KEY_VAULT_TOKEN = 'local-dev-keyvault-emulator-token';

// Tokens from Entra ID live about an hour; the SDK refreshes shortly before `expiresOnTimestamp`.
const LIFETIME_MS = 60 * 60 * 1000;

/** Hands out `token` for any scope; `now` is injectable for tests. */
export class StaticTokenCredential implements TokenCredential {
  constructor(
    private readonly token: string = LOCAL_KEY_VAULT_TOKEN,
    private readonly now: () => number = Date.now,
  ) {}

  /** Returns the fixed token, valid for an hour from now. */
  getToken(_scopes: string | string[], _options?: GetTokenOptions): Promise<AccessToken> {
    return Promise.resolve({ token: this.token, expiresOnTimestamp: this.now() + LIFETIME_MS });
  }
}
