/**
 * Process entry of the local host:
 *   node dist/dev/host/main.js --app <dir> [--port N] [--blob-poll-ms N]
 * Prints `HOST READY <url>` on one line once everything listens; stops cleanly on SIGTERM/SIGINT.
 */
import { parseArgs } from 'node:util';

import { parsePortOption } from '../portOption';
import { startHost } from './startHost';

/** Parses argv, starts the host and wires the signals. */
export async function main(argv: string[] = process.argv.slice(2)): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      app: { type: 'string', default: '.' },
      port: { type: 'string' },
      'blob-poll-ms': { type: 'string' },
    },
  });
  const port = values.port === undefined ? undefined : parsePortOption(values.port, 'port', 0);
  const pollMs = values['blob-poll-ms'] === undefined ? undefined : Number(values['blob-poll-ms']);
  const running = await startHost({ appDir: values.app ?? '.', port, blobPollIntervalMs: pollMs });
  process.stdout.write(`HOST READY ${running.url}\n`);

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`Received ${signal}; stopping the host.\n`);
    running.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`Stopping failed: ${String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`HOST FAILED ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
