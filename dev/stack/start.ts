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
import path from 'node:path';
import { parseArgs } from 'node:util';

import { parsePortOption } from '../portOption';
import { APP_DIR, startLocalStack } from './localStack';

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
  const stack = await startLocalStack({
    dataDir,
    inMemory: values['in-memory'],
    ports: {
      host: portOption(values, 'port', 7071),
      azurite: portOption(values, 'azurite-port', 10000),
      keyVault: portOption(values, 'keyvault-port', 8443),
      sandbox: portOption(values, 'sandbox-port', 8081),
    },
    sandbox: values['no-sandbox'] ? false : { timeScale: Number(values['sandbox-time-scale']) },
    onHostOutput: (line, stream) =>
      (stream === 'stdout' ? process.stdout : process.stderr).write(`[host] ${line}\n`),
  });
  const { hostUrl, azurite, keyVault, trust, sandbox } = stack;
  const lines = [
    '',
    'Local stack ready:',
    `  Functions host          ${hostUrl}/api/   (e.g. ${hostUrl}/api/health; pid ${stack.hostPid})`,
    `  Admin page              ${hostUrl}/api/ui/   (local development mode: you are the local admin)`,
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
  return { url: hostUrl, stop: stack.stop, hostExit: stack.hostExit };
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
