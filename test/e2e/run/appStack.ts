/**
 * The whole app on the real path for the export-run end-to-end tests: the local host process running the
 * compiled app (`dist/`, from `npm run build`) with the real durable-functions replay executor, the run-wide
 * Azurite (unique containers and task hub per stack), the Key Vault emulator over HTTPS and the
 * ActiveCampaign sandbox over HTTP. The host can be killed and restarted on the same storage.
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';

import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import { inject } from 'vitest';

import { type RunningKeyVaultEmulator, startKeyVaultEmulator } from '../../../dev/keyvault/emulator';
import { type RunningSandbox, type SandboxOptions, startSandbox } from '../../../dev/sandbox/server';
import { azuriteConnectionString } from '../../helpers/azurite';
import { type HostProcess, startHostProcess, uniqueHub } from '../durable/harness';

const ROOT = path.resolve(__dirname, '../../..');

export interface AppStack {
  hub: string;
  sandbox: RunningSandbox;
  keyVault: RunningKeyVaultEmulator;
  host: HostProcess;
  /** `<host>/api` */
  api: string;
  segments: ContainerClient;
  work: ContainerClient;
  env: Record<string, string>;
  /** SIGKILLs the host and starts it again on the same storage. */
  restartHost(options?: { kill?: boolean }): Promise<void>;
  stop(): Promise<void>;
}

export interface AppStackOptions {
  sandbox?: SandboxOptions;
  env?: Record<string, string>;
}

/** Starts the stack; `stop()` stops what it started. */
export async function startAppStack(options: AppStackOptions = {}): Promise<AppStack> {
  const hub = uniqueHub('Run');
  const suffix = randomUUID().slice(0, 8);
  const service = BlobServiceClient.fromConnectionString(azuriteConnectionString());
  const segments = service.getContainerClient(`segments-${suffix}`);
  const work = service.getContainerClient(`work-${suffix}`);
  await Promise.all([segments.createIfNotExists(), work.createIfNotExists()]);
  const timeScale = options.sandbox?.timeScale ?? 1;
  const sandbox = await startSandbox({ batchReadyDelayMs: 200, ...options.sandbox });
  const keyVault = await startKeyVaultEmulator({
    tls: { certPath: inject('keyVaultCertPath'), keyPath: inject('keyVaultKeyPath') },
  });
  const env: Record<string, string> = {
    SEGMENT_STORAGE_CONNECTION_STRING: azuriteConnectionString(),
    SegmentStorage: azuriteConnectionString(),
    SEGMENT_CONTAINER: segments.containerName,
    WORK_CONTAINER: work.containerName,
    KEY_VAULT_URL: keyVault.url,
    LOCAL_DEV_MODE: 'true',
    ACTIVECAMPAIGN_ALLOW_LOOPBACK_HTTP: 'true',
    ACTIVECAMPAIGN_REQUESTS_PER_SECOND: String(5 * timeScale),
    ACTIVECAMPAIGN_BULK_IMPORTS_PER_MINUTE: String(100 * timeScale),
    // Never fires during a test unless asked for (POST /admin/functions/scheduledRefresh).
    EXPORT_SCHEDULE: '0 0 0 1 1 *',
    EXPORT_POLL_FIRST_MS: '300',
    EXPORT_POLL_MAX_MS: '1000',
    ...options.env,
  };
  const start = () =>
    startHostProcess(hub, { appDir: ROOT, env, timeoutMs: 60_000, args: ['--blob-poll-ms', '500'] });
  let host = await start();
  const stack: AppStack = {
    hub,
    sandbox,
    keyVault,
    host,
    api: `${host.url}/api`,
    segments,
    work,
    env,
    async restartHost({ kill = true } = {}) {
      await (kill ? stack.host.kill() : stack.host.stop());
      host = await start();
      stack.host = host;
      stack.api = `${host.url}/api`;
    },
    async stop() {
      await stack.host.stop().catch(() => undefined);
      await Promise.allSettled([sandbox.stop(), keyVault.stop()]);
      await Promise.allSettled([segments.deleteIfExists(), work.deleteIfExists()]);
    },
  };
  return stack;
}
