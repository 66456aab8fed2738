import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';

import { afterAll, describe, expect, it } from 'vitest';

import { type EmulatorTrust, prepareEmulatorTrust } from '../../../dev/keyvault/trust';

const run = promisify(execFile);

/** An HTTPS server on 127.0.0.1 with `trust`'s certificate, answering `ok`. */
async function serve(trust: EmulatorTrust): Promise<Server> {
  const server = createServer(
    { cert: await readFile(trust.certPath), key: await readFile(trust.keyPath) },
    (_request, response) => response.end('ok'),
  );
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return server;
}

/** What a fresh Node process trusting `caBundle` (NODE_EXTRA_CA_CERTS) gets from `https://127.0.0.1:<port>/`. */
async function fetchFromChild(caBundle: string, port: number): Promise<string> {
  const script =
    `require('node:https').get('https://127.0.0.1:${port}/', (r) => { let b = ''; ` +
    `r.on('data', (c) => (b += c)); r.on('end', () => console.log(b)); })` +
    `.on('error', (e) => console.log('error ' + e.code));`;
  const { stdout } = await run(process.execPath, ['-e', script], {
    env: { ...process.env, NODE_EXTRA_CA_CERTS: caBundle },
  });
  return stdout.trim();
}

describe('prepareEmulatorTrust', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it('makes a new emulator certificate trusted when the bundle already holds an earlier one', async () => {
    // The test run's globalSetup trusts one emulator certificate; `npm start` started from a test makes
    // another and appends it to that bundle. Both must verify (two certificates with the same subject
    // made OpenSSL check the new one against the old one: DEPTH_ZERO_SELF_SIGNED_CERT).
    const first = await prepareEmulatorTrust();
    cleanups.push(() => first.dispose());
    const second = await prepareEmulatorTrust({ previousBundle: first.caBundlePath });
    cleanups.push(() => second.dispose());
    const servers = [await serve(first), await serve(second)];
    cleanups.push(() =>
      Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve)))),
    );

    const ports = servers.map((s) => (s.address() as AddressInfo).port);
    expect(await fetchFromChild(second.caBundlePath, ports[1]!)).toBe('ok');
    expect(await fetchFromChild(second.caBundlePath, ports[0]!)).toBe('ok');
    // And verification is on: the first bundle alone does not trust the second certificate.
    expect(await fetchFromChild(first.caBundlePath, ports[1]!)).toMatch(/^error /);
  });
});
