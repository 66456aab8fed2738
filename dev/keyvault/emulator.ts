/**
 * Starts the Key Vault emulator: an HTTPS server on a loopback port speaking the secrets subset of the
 * Key Vault REST API that `@azure/keyvault-secrets` uses, so the real SDK and the app's real code path
 * run locally. In memory by default; `dataFile` persists to JSON (for `npm start`).
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';

import type { TokenCredential } from '@azure/core-auth';

import {
  LOCAL_KEY_VAULT_TOKEN,
  StaticTokenCredential,
} from '../../shared/adapters/keyvault/staticTokenCredential';
import {
  generateEmulatorCertificate,
  readCertificateFiles,
  type TlsFiles,
  type TlsMaterial,
  writeCertificateFiles,
} from './certificate';
import { createKeyVaultHandler } from './server';
import { Vault } from './vault';
import { type VaultSnapshot, vaultSnapshotSchema } from './wire';

export interface KeyVaultEmulatorOptions {
  /** Port on 127.0.0.1; 0 (the default) picks a free one. */
  port?: number;
  /**
   * The TLS certificate and key, as PEM text or files. Omitted: a fresh self-signed certificate is
   * generated and written to `certDir`. Tests pass the run-wide certificate from globalSetup, which
   * the test workers already trust through `NODE_EXTRA_CA_CERTS`.
   */
  tls?: TlsMaterial | TlsFiles;
  /** Where a generated (or PEM-given) certificate is written; default a new temp folder. */
  certDir?: string;
  /** The bearer token the emulator accepts; default `LOCAL_KEY_VAULT_TOKEN`, the one `createSecretStore` uses locally. */
  token?: string;
  /** Tenant named in the bearer challenge. */
  tenantId?: string;
  /** JSON file to load from and save to after every change; omitted means in memory. Holds secret values. */
  dataFile?: string;
  /** How long a delete takes before the secret shows under /deletedsecrets (Key Vault is asynchronous). */
  softDeleteDelayMs?: number;
  /** Days a deleted secret stays recoverable (default 90). */
  recoverableDays?: number;
  /** Clock in ms since epoch. */
  now?: () => number;
  /** Receives one line per request (method, path, status, time) and start-up notes; never secret values. */
  log?: (line: string) => void;
}

export interface RunningKeyVaultEmulator {
  /** The vault URL, e.g. `https://127.0.0.1:51234` (what `SecretClient` and `KEY_VAULT_URL` take). */
  url: string;
  /** PEM file of the certificate to trust (`NODE_EXTRA_CA_CERTS`). */
  certPath: string;
  certPem: string;
  /** The token this emulator accepts. Public, like Azurite's key: it guards nothing but this emulator. */
  token: string;
  /** A `TokenCredential` that yields `token`. */
  credential: TokenCredential;
  /** Everything stored (inspection in tests). */
  snapshot(): VaultSnapshot;
  stop(): Promise<void>;
}

/** The tenant named in the challenge unless told otherwise; only its shape matters to the SDK. */
export const EMULATOR_TENANT_ID = '00000000-0000-0000-0000-000000000000';

/** Starts the emulator and resolves once it listens. */
export async function startKeyVaultEmulator(
  options: KeyVaultEmulatorOptions = {},
): Promise<RunningKeyVaultEmulator> {
  const log = options.log ?? (() => undefined);
  const { material, certPath } = await resolveTls(options);
  const token = options.token ?? LOCAL_KEY_VAULT_TOKEN;

  // The request listener is attached once the port (part of every secret id) is known; nobody can
  // know the URL before then.
  const server = createServer({ cert: material.certPem, key: material.keyPem });
  server.listen(options.port ?? 0, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const vault = new Vault(
    {
      vaultUrl: url,
      now: options.now,
      recoverableDays: options.recoverableDays,
      softDeleteDelayMs: options.softDeleteDelayMs,
      onChange: options.dataFile ? persistTo(options.dataFile) : undefined,
    },
    options.dataFile ? load(options.dataFile) : undefined,
  );
  const handler = createKeyVaultHandler({
    vault,
    vaultUrl: url,
    acceptedTokens: [token],
    tenantId: options.tenantId ?? EMULATOR_TENANT_ID,
    log,
  });
  server.on('request', (req, res) => void handler(req, res));
  log(`Key Vault emulator listening at ${url} (certificate ${certPath})`);

  return {
    url,
    certPath,
    certPem: material.certPem,
    token,
    credential: new StaticTokenCredential(token),
    snapshot: () => vault.snapshot(),
    stop: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        // The SDK keeps connections alive; close them so stop() does not wait for their timeout.
        server.closeAllConnections();
      }),
  };
}

async function resolveTls(
  options: KeyVaultEmulatorOptions,
): Promise<{ material: TlsMaterial; certPath: string }> {
  if (options.tls && 'certPath' in options.tls) {
    return { material: await readCertificateFiles(options.tls), certPath: options.tls.certPath };
  }
  const material = options.tls ?? (await generateEmulatorCertificate());
  const dir = options.certDir ?? (await mkdtemp(path.join(os.tmpdir(), 'keyvault-emulator-')));
  const files = await writeCertificateFiles(material, dir);
  return { material, certPath: files.certPath };
}

function load(file: string): VaultSnapshot | undefined {
  if (!existsSync(file)) return undefined;
  return vaultSnapshotSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
}

/** Writes each snapshot atomically (temp file + rename), readable by the owner only. */
function persistTo(file: string): (snapshot: VaultSnapshot) => void {
  return (snapshot) => {
    const temp = `${file}.${process.pid}.tmp`;
    writeFileSync(temp, JSON.stringify(snapshot, null, 2), { mode: 0o600 });
    renameSync(temp, file);
  };
}
