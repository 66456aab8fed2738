/**
 * `node dist/dev/sandbox/main.js [--port N] [--time-scale X] [--seed S]`: runs the ActiveCampaign sandbox
 * until interrupted and prints its URL, host and API key (a sandbox key, not a secret).
 */
import { parsePortOption } from '../portOption';
import { startSandbox } from './server';

function argument(name: string): string | undefined {
  const index = process.argv.indexOf(name);
  return index >= 0 ? process.argv[index + 1] : undefined;
}

/** Starts the sandbox from command-line arguments. */
export async function main(): Promise<void> {
  const port = parsePortOption(argument('--port'), 'port', 0);
  const timeScale = Number(argument('--time-scale') ?? 1);
  const seed = Number(argument('--seed') ?? 1);
  const sandbox = await startSandbox({ port, timeScale, seed });
  console.log(`ActiveCampaign sandbox listening on ${sandbox.url} (time scale ${timeScale})`);
  console.log(
    `  host for connections: ${sandbox.hostForClient} (needs ACTIVECAMPAIGN_ALLOW_LOOPBACK_HTTP=true)`,
  );
  console.log(`  sandbox API key:      ${sandbox.apiKey}`);
  console.log(`  inspection:           ${sandbox.url}/__sandbox/state`);
  const stop = () => void sandbox.stop().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

if (require.main === module) void main();
