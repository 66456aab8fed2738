/**
 * `npm start`: the whole local stack on one machine, on embedded defaults.
 *
 *   node dist/dev/stack/start.js [--data-dir .local] [--port 7071] [--azurite-port 10000]
 *                                [--keyvault-port 8443] [--sandbox-port 8081] [--sandbox-time-scale 1]
 *                                [--no-sandbox] [--in-memory]
 *
 * Starts Azurite (on disk under the data dir), the Key Vault emulator (HTTPS, its certificate made trusted
 * for the host through NODE_EXTRA_CA_CERTS), the ActiveCampaign sandbox (unless `--no-sandbox`, for a real
 * account) and the local Functions host running this app, then prints the URLs and `STACK READY <url>`.
 * Port 0 anywhere picks a free port. Everything binds 127.0.0.1. Ctrl-C stops it all.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';

import { type RunningAzurite, startAzurite } from '../azurite';
import { stopChildProcess } from '../childProcess';
import { type RunningKeyVaultEmulator, startKeyVaultEmulator } from '../keyvault/emulator';
import { prepareEmulatorTrust } from '../keyvault/trust';
import { parsePortOption } from '../portOption';
import { type RunningSandbox, startSandbox } from '../sandbox/server';

const APP_DIR = path.resolve(__dirname, '../../..');

interface Stopper {
  name: string;
  stop(): Promise<void>;
}

function portOption(
  values: Record<string, string | boolean | undefined>,
  name: string,
  fallback: number,
): number {
  const raw = values[name];
  return parsePortOption(typeof raw === 'string' ? raw : undefined, name, fallback);
}

/** Starts the stack; resolves once the host answers, with a function that stops everything. */
export async function startStack(
  argv: string[],
): Promise<{ url: string; stop(): Promise<void>; hostExit: Promise<string> }> {
  const { values } = parseArgs({
    args: argv,
    options: {
      'data-dir': { type: 'string', default: path.join(APP_DIR, '.local') },
      port: { type: 'string' },
      'azurite-port': { type: 'string' },
      'keyvault-port': { type: 'string' },
      'sandbox-port': { type: 'string' },
      'sandbox-time-scale': { type: 'string', default: '1' },
      'no-sandbox': { type: 'boolean', default: false },
      'in-memory': { type: 'boolean', default: false },
    },
  });
  const dataDir = path.resolve(values['data-dir'] ?? '.local');
  await mkdir(dataDir, { recursive: true });
  const stoppers: Stopper[] = [];
  const stopAll = async () => {
    for (const s of [...stoppers].reverse()) {
      await s.stop().catch((err: unknown) => console.error(`Stopping ${s.name} failed: ${String(err)}`));
    }
  };

  try {
    const azuritePort = portOption(values, 'azurite-port', 10000);
    const azurite: RunningAzurite = await startAzurite({
      ...(values['in-memory'] ? {} : { location: path.join(dataDir, 'azurite') }),
      blobPort: azuritePort,
      queuePort: azuritePort === 0 ? 0 : azuritePort + 1,
      tablePort: azuritePort === 0 ? 0 : azuritePort + 2,
    });
    stoppers.push({ name: 'Azurite', stop: () => azurite.stop() });

    const trust = await prepareEmulatorTrust({
      dir: path.join(dataDir, 'keyvault-tls'),
      previousBundle: process.env.NODE_EXTRA_CA_CERTS,
    });
    const keyVault: RunningKeyVaultEmulator = await startKeyVaultEmulator({
      port: portOption(values, 'keyvault-port', 8443),
      tls: { certPath: trust.certPath, keyPath: trust.keyPath },
      ...(values['in-memory'] ? {} : { dataFile: path.join(dataDir, 'keyvault.json') }),
    });
    stoppers.push({ name: 'Key Vault emulator', stop: () => keyVault.stop() });

    let sandbox: RunningSandbox | undefined;
    if (!values['no-sandbox']) {
      sandbox = await startSandbox({
        port: portOption(values, 'sandbox-port', 8081),
        timeScale: Number(values['sandbox-time-scale']),
      });
      const running = sandbox;
      stoppers.push({ name: 'ActiveCampaign sandbox', stop: () => running.stop() });
    }

    const env: Record<string, string> = {
      ...(process.env as Record<string, string>),
      AzureWebJobsStorage: azurite.connectionString,
      SEGMENT_STORAGE_CONNECTION_STRING:
        process.env.SEGMENT_STORAGE_CONNECTION_STRING ?? azurite.connectionString,
      // The blob trigger's connection (the same account, as a Functions connection setting).
      SegmentStorage:
        process.env.SegmentStorage ??
        process.env.SEGMENT_STORAGE_CONNECTION_STRING ??
        azurite.connectionString,
      // Binding expressions (%SEGMENT_CONTAINER%, %EXPORT_SCHEDULE%) need the settings, not config's defaults.
      SEGMENT_CONTAINER: process.env.SEGMENT_CONTAINER ?? 'customer-insights',
      EXPORT_SCHEDULE: process.env.EXPORT_SCHEDULE ?? '0 0 2 * * *',
      KEY_VAULT_URL: keyVault.url,
      LOCAL_DEV_MODE: 'true',
      DURABLE_TASK_HUB_NAME: process.env.DURABLE_TASK_HUB_NAME ?? 'SegmentExport',
      ACTIVECAMPAIGN_ALLOW_LOOPBACK_HTTP: sandbox
        ? 'true'
        : (process.env.ACTIVECAMPAIGN_ALLOW_LOOPBACK_HTTP ?? 'false'),
      NODE_EXTRA_CA_CERTS: trust.caBundlePath,
    };
    const host = spawn(
      process.execPath,
      [
        path.join(APP_DIR, 'dist/dev/host/main.js'),
        '--app',
        APP_DIR,
        '--port',
        String(portOption(values, 'port', 7071)),
      ],
      { env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    stoppers.push({ name: 'Functions host', stop: () => stopChildProcess(host, 10_000) });
    const hostUrl = await waitForReady(host, 120_000);
    // Resolves (with how it ended) if the host dies on its own after it was ready.
    const hostExit = new Promise<string>((resolve) =>
      host.once('exit', (code, signal) => resolve(signal ?? `code ${code}`)),
    );

    const lines = [
      '',
      'Local stack ready:',
      `  Admin page              ${hostUrl}/api/ui/   (local development mode: you are the local admin)`,
      `  Functions host          ${hostUrl}/api/   (e.g. ${hostUrl}/api/health; pid ${host.pid})`,
      `  Azurite blob            ${azurite.blobEndpoint}`,
      `  Azurite table           ${azurite.tableEndpoint}`,
      `  Key Vault emulator      ${keyVault.url}   (certificate: ${trust.certPath})`,
      sandbox
        ? `  ActiveCampaign sandbox  ${sandbox.url}   (connection host: ${sandbox.hostForClient}, API key: ${sandbox.apiKey}; inspect ${sandbox.url}/__sandbox/state)`
        : '  ActiveCampaign          real account (no sandbox started)',
      `  Data                    ${values['in-memory'] ? 'in memory' : dataDir}`,
      `STACK READY ${hostUrl}`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    return { url: hostUrl, stop: stopAll, hostExit };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/** Streams the host's output through (prefixed) and resolves with its URL at its ready line. */
function waitForReady(child: ChildProcess, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`The Functions host was not ready within ${timeoutMs / 1000} s.`)),
      timeoutMs,
    );
    let buffered = '';
    const onLine = (line: string) => {
      process.stdout.write(`[host] ${line}\n`);
      const ready = /^HOST READY (\S+)/.exec(line);
      if (ready) {
        clearTimeout(timer);
        resolve(ready[1]!);
      }
    };
    child.stdout?.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      let index: number;
      while ((index = buffered.indexOf('\n')) >= 0) {
        onLine(buffered.slice(0, index));
        buffered = buffered.slice(index + 1);
      }
    });
    child.stderr?.on('data', (chunk: Buffer) => process.stderr.write(`[host] ${chunk.toString()}`));
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`The Functions host exited (${signal ?? `code ${code}`}) before it was ready.`));
    });
  });
}

if (require.main === module) {
  startStack(process.argv.slice(2)).then(
    (stack) => {
      let stopping = false;
      const stop = () => {
        if (stopping) return;
        stopping = true;
        process.stdout.write('Stopping the local stack...\n');
        void stack.stop().then(() => process.exit(0));
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      // A host that dies on its own takes the stack down with it, instead of leaving "ready" on screen.
      void stack.hostExit.then((how) => {
        if (stopping) return;
        stopping = true;
        process.stderr.write(`The Functions host exited unexpectedly (${how}); stopping the local stack.\n`);
        void stack.stop().then(() => process.exit(1));
      });
    },
    (error: unknown) => {
      process.stderr.write(`STACK FAILED ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    },
  );
}
