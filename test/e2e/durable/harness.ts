/**
 * A host process for the Durable end-to-end tests: the real local host (dev/host startHost) with the
 * Durable backend, behind a thin front server that serves `/runtime/webhooks/durabletask/*` from the
 * backend and forwards everything else to the host (the host core does not route the webhooks yet).
 *   node --import tsx test/e2e/durable/harness.ts <appDir>
 * Prints `HARNESS READY <url>` once listening. Settings come from the environment.
 */
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';

import { type DurableBackend, startDurableBackend } from '../../../dev/durable';
import { startHost } from '../../../dev/host/startHost';

async function main(): Promise<void> {
  const appDir = process.argv[2]!;
  let backend: DurableBackend | undefined;
  let hostUrl = '';
  const front = createServer((req, res) => {
    if (req.url?.startsWith('/runtime/webhooks/durabletask/') && backend) {
      void backend.handleWebhook(req, res);
      return;
    }
    const upstream = request(
      new URL(req.url ?? '/', hostUrl),
      { method: req.method, headers: req.headers },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on('error', () => {
      res.writeHead(502);
      res.end();
    });
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
  const frontUrl = `http://127.0.0.1:${(front.address() as AddressInfo).port}`;
  process.env.WEBSITE_HOSTNAME = new URL(frontUrl).host;
  const running = await startHost({
    appDir,
    port: 0,
    logger: () => undefined,
    startDurableBackend: async (options) => {
      backend = await startDurableBackend({ ...options, baseUrl: frontUrl });
      return backend;
    },
  });
  hostUrl = running.url;
  process.stdout.write(`HARNESS READY ${frontUrl} ${backend!.rpcBaseUrl}\n`);
  process.once('SIGTERM', () => {
    void running.stop().then(() => process.exit(0));
  });
}

main().catch((error: unknown) => {
  process.stderr.write(
    `HARNESS FAILED ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
