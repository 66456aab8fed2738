/**
 * The pieces of the local stack, started in one call: Azurite, the Key Vault emulator (its certificate made
 * trusted for the host through NODE_EXTRA_CA_CERTS), the ActiveCampaign sandbox (optional) and the local
 * Functions host running this app as a child process. `npm start` (start.ts) and the export CLI
 * (dev/cli/main.ts) both start the stack through here; each decides what to print.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { type RunningAzurite, startAzurite } from '../azurite';
import { stopChildProcess } from '../childProcess';
import { type RunningKeyVaultEmulator, startKeyVaultEmulator } from '../keyvault/emulator';
import { type EmulatorTrust, prepareEmulatorTrust } from '../keyvault/trust';
import type { SandboxContact } from '../sandbox/account';
import { type RunningSandbox, startSandbox } from '../sandbox/server';

/** The project folder (`dist/dev/stack/` is three levels below it). */
export const APP_DIR = path.resolve(__dirname, '../../..');

export interface LocalStackOptions {
  /** Azurite's data, the Key Vault emulator's secrets and certificate. */
  dataDir: string;
  /** Azurite and the emulator keep nothing on disk. */
  inMemory?: boolean;
  /** 0 picks a free port; Azurite's queue and table take the next two ports unless it is 0. */
  ports: { host: number; azurite: number; keyVault: number; sandbox: number };
  /** Start the bundled sandbox (at this time scale), or not (a real account, or one started elsewhere). */
  sandbox: { timeScale: number } | false;
  /** Plain http to a loopback ActiveCampaign host (always on with the bundled sandbox). */
  allowLoopbackHttp?: boolean;
  /** Settings for the host beyond the stack's own (they win over the environment). */
  hostEnv?: Record<string, string>;
  /** Each line the host prints on stdout and stderr. */
  onHostOutput: (line: string, stream: 'stdout' | 'stderr') => void;
  hostReadyTimeoutMs?: number;
}

export interface LocalStack {
  hostUrl: string;
  hostPid: number | undefined;
  azurite: RunningAzurite;
  keyVault: RunningKeyVaultEmulator;
  trust: EmulatorTrust;
  sandbox: RunningSandbox | undefined;
  /** Resolves (with how it ended) if the host exits after it was ready. */
  hostExit: Promise<string>;
  /** Stops everything started, the host first; safe to call more than once. */
  stop: () => Promise<void>;
}

interface Stopper {
  name: string;
  stop(): Promise<void>;
}

/** Starts the stack; resolves once the host answers. On failure, stops what it had started and throws. */
export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  await mkdir(options.dataDir, { recursive: true });
  const stoppers: Stopper[] = [];
  let stopped: Promise<void> | undefined;
  const stopAll = () =>
    (stopped ??= (async () => {
      for (const s of [...stoppers].reverse()) {
        await s.stop().catch((err: unknown) => console.error(`Stopping ${s.name} failed: ${String(err)}`));
      }
    })());

  try {
    const { ports } = options;
    const azurite = await startAzurite({
      ...(options.inMemory ? {} : { location: path.join(options.dataDir, 'azurite') }),
      blobPort: ports.azurite,
      queuePort: ports.azurite === 0 ? 0 : ports.azurite + 1,
      tablePort: ports.azurite === 0 ? 0 : ports.azurite + 2,
    });
    stoppers.push({ name: 'Azurite', stop: () => azurite.stop() });

    const trust = await prepareEmulatorTrust({
      dir: path.join(options.dataDir, 'keyvault-tls'),
      previousBundle: process.env.NODE_EXTRA_CA_CERTS,
    });
    const keyVault = await startKeyVaultEmulator({
      port: ports.keyVault,
      tls: { certPath: trust.certPath, keyPath: trust.keyPath },
      ...(options.inMemory ? {} : { dataFile: path.join(options.dataDir, 'keyvault.json') }),
    });
    stoppers.push({ name: 'Key Vault emulator', stop: () => keyVault.stop() });

    let sandbox: RunningSandbox | undefined;
    if (options.sandbox) {
      const running = await startSandbox({ port: ports.sandbox, timeScale: options.sandbox.timeScale });
      sandbox = running;
      // The bundled sandbox keeps its contacts in the data dir, like Azurite keeps the export's snapshot: a
      // re-run of the same export is incremental against the same ActiveCampaign state.
      const contactsFile = options.inMemory ? undefined : path.join(options.dataDir, 'sandbox-contacts.json');
      if (contactsFile) await loadSandboxContacts(running, contactsFile);
      stoppers.push({
        name: 'ActiveCampaign sandbox',
        stop: async () => {
          if (contactsFile) await saveSandboxContacts(running, contactsFile);
          await running.stop();
        },
      });
    }

    const env = hostEnvironment(azurite, keyVault, trust, Boolean(sandbox || options.allowLoopbackHttp));
    const host = spawn(
      process.execPath,
      [path.join(APP_DIR, 'dist/dev/host/main.js'), '--app', APP_DIR, '--port', String(ports.host)],
      { env: { ...env, ...options.hostEnv }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    stoppers.push({ name: 'Functions host', stop: () => stopChildProcess(host, 10_000) });
    const hostUrl = await waitForReady(host, options.hostReadyTimeoutMs ?? 120_000, options.onHostOutput);
    const hostExit = new Promise<string>((resolve) =>
      host.once('exit', (code, signal) => resolve(signal ?? `code ${code}`)),
    );
    return { hostUrl, hostPid: host.pid, azurite, keyVault, trust, sandbox, hostExit, stop: stopAll };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/** The host's settings: the environment, with the stack's storage, vault and local-mode settings. */
function hostEnvironment(
  azurite: RunningAzurite,
  keyVault: RunningKeyVaultEmulator,
  trust: EmulatorTrust,
  loopbackHttp: boolean,
): Record<string, string> {
  return {
    ...(process.env as Record<string, string>),
    AzureWebJobsStorage: azurite.connectionString,
    SEGMENT_STORAGE_CONNECTION_STRING:
      process.env.SEGMENT_STORAGE_CONNECTION_STRING ?? azurite.connectionString,
    // The blob trigger's connection (the same account, as a Functions connection setting).
    SegmentStorage:
      process.env.SegmentStorage ?? process.env.SEGMENT_STORAGE_CONNECTION_STRING ?? azurite.connectionString,
    // Binding expressions (%SEGMENT_CONTAINER%, %EXPORT_SCHEDULE%) need the settings, not config's defaults.
    SEGMENT_CONTAINER: process.env.SEGMENT_CONTAINER ?? 'customer-insights',
    EXPORT_SCHEDULE: process.env.EXPORT_SCHEDULE ?? '0 0 2 * * *',
    KEY_VAULT_URL: keyVault.url,
    LOCAL_DEV_MODE: 'true',
    DURABLE_TASK_HUB_NAME: process.env.DURABLE_TASK_HUB_NAME ?? 'SegmentExport',
    ACTIVECAMPAIGN_ALLOW_LOOPBACK_HTTP: loopbackHttp
      ? 'true'
      : (process.env.ACTIVECAMPAIGN_ALLOW_LOOPBACK_HTTP ?? 'false'),
    NODE_EXTRA_CA_CERTS: trust.caBundlePath,
  };
}

/** Passes the host's output on line by line and resolves with its URL at its ready line. */
function waitForReady(
  child: ChildProcess,
  timeoutMs: number,
  onOutput: LocalStackOptions['onHostOutput'],
): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`The Functions host was not ready within ${timeoutMs / 1000} s.`)),
      timeoutMs,
    );
    const lines = (stream: 'stdout' | 'stderr', onLine: (line: string) => void) => {
      let buffered = '';
      child[stream]?.on('data', (chunk: Buffer) => {
        buffered += chunk.toString();
        let index: number;
        while ((index = buffered.indexOf('\n')) >= 0) {
          onLine(buffered.slice(0, index));
          buffered = buffered.slice(index + 1);
        }
      });
    };
    lines('stdout', (line) => {
      onOutput(line, 'stdout');
      const ready = /^HOST READY (\S+)/.exec(line);
      if (ready) {
        clearTimeout(timer);
        resolve(ready[1]!);
      }
    });
    lines('stderr', (line) => onOutput(line, 'stderr'));
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`The Functions host exited (${signal ?? `code ${code}`}) before it was ready.`));
    });
  });
}

/** Restores the bundled sandbox's contacts saved by an earlier run of the stack (none the first time). */
async function loadSandboxContacts(sandbox: RunningSandbox, file: string): Promise<void> {
  let saved: SandboxContact[];
  try {
    saved = JSON.parse(await readFile(file, 'utf8')) as SandboxContact[];
  } catch {
    return;
  }
  const account = sandbox.state.account(undefined);
  for (const contact of saved) Object.assign(account.upsert(contact.email), contact);
}

/** Saves the bundled sandbox's contacts into the data dir. */
async function saveSandboxContacts(sandbox: RunningSandbox, file: string): Promise<void> {
  const contacts = [...sandbox.state.account(undefined).contacts.values()];
  await writeFile(file, JSON.stringify(contacts));
}
