import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { SecretClient } from '@azure/keyvault-secrets';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

import {
  type KeyVaultEmulatorOptions,
  type RunningKeyVaultEmulator,
  startKeyVaultEmulator,
} from '../../../dev/keyvault/emulator';
import { StaticTokenCredential } from '../../../shared/adapters/keyvault/staticTokenCredential';

const API_VERSION = 'api-version=2025-07-01';

/** An emulator on the run-wide certificate (trusted by this worker through NODE_EXTRA_CA_CERTS). */
function startTrusted(options: KeyVaultEmulatorOptions = {}): Promise<RunningKeyVaultEmulator> {
  return startKeyVaultEmulator({
    tls: { certPath: inject('keyVaultCertPath'), keyPath: inject('keyVaultKeyPath') },
    ...options,
  });
}

function clientFor(emulator: RunningKeyVaultEmulator, credential = emulator.credential): SecretClient {
  return new SecretClient(emulator.url, credential, {
    // The challenge names vault.azure.net, which 127.0.0.1 cannot match.
    disableChallengeResourceVerification: true,
    retryOptions: { maxRetries: 0 },
  });
}

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}

describe('Key Vault emulator', () => {
  let emulator: RunningKeyVaultEmulator;
  const logLines: string[] = [];

  beforeAll(async () => {
    emulator = await startTrusted({ log: (line) => logLines.push(line), token: 'test-token-for-this-file' });
  });
  afterAll(() => emulator.stop());

  it('is trusted by test workers through the certificate globalSetup put in NODE_EXTRA_CA_CERTS', async () => {
    expect(process.env.NODE_TLS_REJECT_UNAUTHORIZED).toBeUndefined();
    const bundle = await readFile(process.env.NODE_EXTRA_CA_CERTS!, 'utf8');
    expect(bundle).toContain(emulator.certPem.trim());
    // Default fetch: full verification, no custom CA option, so trust can only come from NODE_EXTRA_CA_CERTS.
    const response = await fetch(`${emulator.url}/secrets?${API_VERSION}`);
    expect(response.status).toBe(401);
  });

  it('refuses TLS when its certificate is not the trusted one', async () => {
    const untrusted = await startKeyVaultEmulator(); // fresh self-signed certificate, unknown to this worker
    try {
      const error = await fetch(`${untrusted.url}/secrets?${API_VERSION}`).then(
        () => undefined,
        (e: unknown) => e as Error & { cause?: { code?: string } },
      );
      expect(error?.cause?.code).toMatch(/SELF_SIGNED|UNABLE_TO_VERIFY/);
    } finally {
      await untrusted.stop();
    }
  });

  it('sets, gets (latest and by version), updates, lists, deletes and purges through the real SecretClient', async () => {
    const client = clientFor(emulator);
    const first = await client.setSecret('lifecycle', 'value-one', {
      contentType: 'text/plain',
      tags: { a: '1' },
    });
    const second = await client.setSecret('lifecycle', 'value-two');
    expect(first.properties.version).toMatch(/^[0-9a-f]{32}$/);
    expect(first.properties.id).toBe(`${emulator.url}/secrets/lifecycle/${first.properties.version}`);
    expect(first.properties.recoveryLevel).toBe('Recoverable+Purgeable');
    expect(first.properties.createdOn).toBeInstanceOf(Date);

    expect((await client.getSecret('lifecycle')).value).toBe('value-two');
    const old = await client.getSecret('lifecycle', { version: first.properties.version! });
    expect(old.value).toBe('value-one');
    expect(old.properties.contentType).toBe('text/plain');
    expect(old.properties.tags).toEqual({ a: '1' });

    const updated = await client.updateSecretProperties('lifecycle', second.properties.version!, {
      tags: { owner: 'tests' },
      enabled: false,
    });
    expect(updated).toMatchObject({ enabled: false, tags: { owner: 'tests' } });
    await expect(client.getSecret('lifecycle')).rejects.toMatchObject({ statusCode: 403, code: 'Forbidden' });
    await client.updateSecretProperties('lifecycle', second.properties.version!, { enabled: true });

    const versions = await collect(client.listPropertiesOfSecretVersions('lifecycle'));
    expect(versions.map((v) => v.version)).toEqual([first.properties.version, second.properties.version]);
    const names = (await collect(client.listPropertiesOfSecrets())).map((p) => p.name);
    expect(names).toContain('lifecycle');

    const poller = await client.beginDeleteSecret('lifecycle');
    const deleted = await poller.pollUntilDone();
    expect(deleted.properties.recoveryId).toBe(`${emulator.url}/deletedsecrets/lifecycle`);
    expect(deleted.properties.deletedOn).toBeInstanceOf(Date);
    expect(deleted.value).toBeUndefined();
    await expect(client.getSecret('lifecycle')).rejects.toMatchObject({
      statusCode: 404,
      code: 'SecretNotFound',
    });
    // Soft delete keeps the name: it cannot be reused until recovered or purged.
    await expect(client.setSecret('lifecycle', 'reuse')).rejects.toMatchObject({ statusCode: 409 });
    expect((await collect(client.listDeletedSecrets())).map((s) => s.name)).toContain('lifecycle');

    await client.purgeDeletedSecret('lifecycle');
    await expect(client.getDeletedSecret('lifecycle')).rejects.toMatchObject({ statusCode: 404 });
    expect((await client.setSecret('lifecycle', 'fresh')).value).toBe('fresh');
  });

  it('pages lists with nextLink when there are more items than maxresults', async () => {
    const client = clientFor(emulator);
    for (const n of [1, 2, 3, 4, 5]) await client.setSecret(`paged-${n}`, `v${n}`);
    const pages: string[][] = [];
    for await (const page of client.listPropertiesOfSecrets().byPage({ maxPageSize: 2 })) {
      pages.push(page.map((p) => p.name).filter((name) => name.startsWith('paged-')));
    }
    expect(pages.length).toBeGreaterThanOrEqual(3);
    expect(pages.every((page) => page.length <= 2)).toBe(true);
    expect(pages.flat()).toEqual(['paged-1', 'paged-2', 'paged-3', 'paged-4', 'paged-5']);
  });

  it('recovers a deleted secret with its versions', async () => {
    const client = clientFor(emulator);
    await client.setSecret('recoverable', 'kept');
    await (await client.beginDeleteSecret('recoverable')).pollUntilDone();
    const recovered = await (await client.beginRecoverDeletedSecret('recoverable')).pollUntilDone();
    expect(recovered.name).toBe('recoverable');
    expect((await client.getSecret('recoverable')).value).toBe('kept');
  });

  it('answers 401 with the bearer challenge when a request has no token', async () => {
    const response = await fetch(`${emulator.url}/secrets/anything?${API_VERSION}`);
    expect(response.status).toBe(401);
    const challenge = response.headers.get('www-authenticate') ?? '';
    expect(challenge).toMatch(/^Bearer authorization="https:\/\/login\.microsoftonline\.com\/[0-9a-f-]+"/);
    expect(challenge).toContain('resource="https://vault.azure.net"');
    expect(await response.json()).toEqual({
      error: { code: 'Unauthorized', message: 'AKV10000: Request is missing a Bearer or PoP token.' },
    });
  });

  it('refuses a wrong token, over raw HTTP and through the SDK', async () => {
    const raw = await fetch(`${emulator.url}/secrets?${API_VERSION}`, {
      headers: { authorization: 'Bearer not-the-token' },
    });
    expect(raw.status).toBe(401);
    const client = clientFor(emulator, new StaticTokenCredential('not-the-token'));
    await expect(client.getSecret('lifecycle')).rejects.toMatchObject({
      statusCode: 401,
      code: 'Unauthorized',
    });
  });

  it('answers 400 in Key Vault error shape when api-version is missing', async () => {
    const response = await fetch(`${emulator.url}/secrets`, {
      headers: { authorization: `Bearer ${emulator.token}` },
    });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('BadParameter');
  });

  it('rejects invalid secret names with BadParameter', async () => {
    await expect(clientFor(emulator).setSecret('not_allowed', 'x')).rejects.toMatchObject({
      statusCode: 400,
      code: 'BadParameter',
    });
  });

  it('never writes secret values to its log', () => {
    const text = logLines.join('\n');
    expect(text).toContain('PUT /secrets/lifecycle -> 200'); // the log did record the calls
    for (const value of ['value-one', 'value-two', 'kept', 'fresh']) expect(text).not.toContain(value);
  });
});

describe('Key Vault emulator delete poller', () => {
  it('polls /deletedsecrets until an asynchronous delete completes', async () => {
    const emulator = await startTrusted({ softDeleteDelayMs: 300 });
    try {
      const client = clientFor(emulator);
      await client.setSecret('slow-delete', 'x');
      const poller = await client.beginDeleteSecret('slow-delete', { intervalInMs: 50 });
      expect(poller.isDone()).toBe(false); // the first GET /deletedsecrets answered 404
      const started = Date.now();
      const deleted = await poller.pollUntilDone();
      expect(Date.now() - started).toBeGreaterThanOrEqual(150);
      expect(deleted.name).toBe('slow-delete');
    } finally {
      await emulator.stop();
    }
  });
});

describe('Key Vault emulator persistence', () => {
  it('keeps secrets across restarts when given a data file, and purges expired deletions', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'kv-data-'));
    let now = Date.parse('2030-01-01T00:00:00Z');
    const options = { dataFile: path.join(dir, 'vault.json'), now: () => now, recoverableDays: 7 };
    try {
      const first = await startTrusted(options);
      await clientFor(first).setSecret('persisted', 'survives');
      await clientFor(first).setSecret('to-delete', 'gone');
      await (await clientFor(first).beginDeleteSecret('to-delete')).pollUntilDone();
      await first.stop();

      const second = await startTrusted(options);
      try {
        const client = clientFor(second);
        expect((await client.getSecret('persisted')).value).toBe('survives');
        expect((await client.getDeletedSecret('to-delete')).name).toBe('to-delete');
        now += 8 * 86_400_000; // past scheduledPurgeDate: Key Vault purges on its own
        await expect(client.getDeletedSecret('to-delete')).rejects.toMatchObject({ statusCode: 404 });
      } finally {
        await second.stop();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('Key Vault emulator command', () => {
  it('prints KEY_VAULT_URL and the certificate path and serves until SIGTERM', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'kv-cli-'));
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'dev/keyvault/main.ts', '--quiet', '--cert-dir', dir],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    try {
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
      await expect
        .poll(() => /NODE_EXTRA_CA_CERTS=/.test(output), { timeout: 15_000, interval: 100 })
        .toBe(true);
      const url = /KEY_VAULT_URL=(\S+)/.exec(output)![1]!;
      expect(url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      expect(output).toContain(path.join(dir, 'keyvault-emulator.crt.pem'));
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const [code] = (await exited) as [number | null];
      expect(code).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    }
  });
});
