import http from 'node:http';
import type { AddressInfo } from 'node:net';

import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import {
  chooseCredentialKind,
  createSecretStore,
  credentialFor,
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

/**
 * A stand-in for App Service's managed identity endpoint (`IDENTITY_ENDPOINT` + `IDENTITY_HEADER`, what
 * the real `ManagedIdentityCredential` calls inside a Function App), recording the query of each request.
 * One server for the whole block: MSAL remembers the managed identity source for the process.
 */
describe('credentialFor', () => {
  const requests: URLSearchParams[] = [];
  const server = http.createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    requests.push(url.searchParams);
    response.setHeader('content-type', 'application/json');
    response.end(
      JSON.stringify({
        access_token: 'fake-token-for-test',
        expires_on: String(Math.floor(Date.now() / 1000) + 3600),
        resource: url.searchParams.get('resource'),
        token_type: 'Bearer',
      }),
    );
  });
  const saved = { endpoint: process.env.IDENTITY_ENDPOINT, header: process.env.IDENTITY_HEADER };

  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    process.env.IDENTITY_ENDPOINT = `http://127.0.0.1:${port}/msi/token`;
    process.env.IDENTITY_HEADER = 'test-identity-header';
  });

  afterAll(async () => {
    restoreEnv('IDENTITY_ENDPOINT', saved.endpoint);
    restoreEnv('IDENTITY_HEADER', saved.header);
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  beforeEach(() => {
    requests.length = 0;
  });

  it('asks the managed identity endpoint for the user-assigned identity when AZURE_CLIENT_ID is set', async () => {
    const credential = credentialFor('managed-identity', { AZURE_CLIENT_ID: 'client-id-of-the-identity' });
    const token = await credential.getToken('https://vault.azure.net/.default');
    expect(token?.token).toBe('fake-token-for-test');
    expect(requests).toHaveLength(1);
    expect(requests[0]!.get('client_id')).toBe('client-id-of-the-identity');
    expect(requests[0]!.get('resource')).toBe('https://vault.azure.net');
  });

  it('asks for the system-assigned identity when AZURE_CLIENT_ID is not set', async () => {
    const credential = credentialFor('managed-identity', { AZURE_CLIENT_ID: undefined });
    await credential.getToken('https://vault.azure.net/.default');
    expect(requests).toHaveLength(1);
    expect(requests[0]!.has('client_id')).toBe(false);
  });
});

function restoreEnv(name: string, value: string | undefined): void {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}
