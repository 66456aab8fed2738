import { describe, expect, it } from 'vitest';

import {
  chooseCredentialKind,
  createSecretStore,
} from '../../../../shared/adapters/keyvault/createSecretStore';
import { isLoopbackUrl } from '../../../../shared/adapters/keyvault/secretStore';
import { ConfigError } from '../../../../shared/errors';

describe('chooseCredentialKind', () => {
  it('uses managed identity for a real vault outside local dev mode', () => {
    expect(
      chooseCredentialKind({ KEY_VAULT_URL: 'https://my-vault.vault.azure.net', LOCAL_DEV_MODE: false }),
    ).toBe('managed-identity');
  });

  it("uses the emulator's static token for a loopback vault in local dev mode", () => {
    expect(chooseCredentialKind({ KEY_VAULT_URL: 'https://127.0.0.1:8443', LOCAL_DEV_MODE: true })).toBe(
      'emulator-static-token',
    );
  });

  it('uses DefaultAzureCredential for a real vault in local dev mode', () => {
    expect(
      chooseCredentialKind({ KEY_VAULT_URL: 'https://my-vault.vault.azure.net', LOCAL_DEV_MODE: true }),
    ).toBe('default-azure-credential');
  });

  it('refuses a loopback vault outside local dev mode', () => {
    expect(() =>
      chooseCredentialKind({ KEY_VAULT_URL: 'https://localhost:8443', LOCAL_DEV_MODE: false }),
    ).toThrow(ConfigError);
  });

  it('refuses plain http to a real vault and a missing KEY_VAULT_URL', () => {
    expect(() =>
      chooseCredentialKind({ KEY_VAULT_URL: 'http://my-vault.vault.azure.net', LOCAL_DEV_MODE: false }),
    ).toThrow(/https/);
    expect(() => createSecretStore({ KEY_VAULT_URL: undefined, LOCAL_DEV_MODE: false })).toThrow(
      /KEY_VAULT_URL/,
    );
  });
});

describe('isLoopbackUrl', () => {
  it('is true for localhost, 127.0.0.0/8 and ::1', () => {
    for (const url of [
      'https://localhost:1',
      'https://127.0.0.1:8443',
      'https://127.1.2.3',
      'https://[::1]:8443',
    ]) {
      expect(isLoopbackUrl(url)).toBe(true);
    }
  });

  it('is false for other hosts, including look-alikes', () => {
    for (const url of [
      'https://my-vault.vault.azure.net',
      'https://127.0.0.1.evil.example',
      'https://10.0.0.1',
    ]) {
      expect(isLoopbackUrl(url)).toBe(false);
    }
  });
});
