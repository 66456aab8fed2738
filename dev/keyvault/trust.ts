/**
 * Makes the emulator's certificate trusted by Node processes that have not started yet.
 *
 * Node reads `NODE_EXTRA_CA_CERTS` once, at process start (https://nodejs.org/api/cli.html#node_extra_ca_certsfile),
 * so a process can only trust a certificate made before it was spawned. The test run's globalSetup and the
 * stack launcher call this first, point `NODE_EXTRA_CA_CERTS` of the processes they spawn at `caBundlePath`,
 * and start every emulator with `{ tls: { certPath, keyPath } }`. Verification stays on everywhere.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { generateEmulatorCertificate, type TlsFiles, writeCertificateFiles } from './certificate';

export interface EmulatorTrust extends TlsFiles {
  /** PEM bundle for `NODE_EXTRA_CA_CERTS`: any CAs it named before, plus the emulator's certificate. */
  caBundlePath: string;
  /** Removes the files (the temp folder, unless `dir` was given). */
  dispose(): Promise<void>;
}

/**
 * Generates the emulator certificate into `dir` (default a new temp folder) and a CA bundle that keeps
 * the CAs of `previousBundle` (usually the current `NODE_EXTRA_CA_CERTS`), which it would otherwise replace.
 */
export async function prepareEmulatorTrust(
  options: { dir?: string; previousBundle?: string | undefined } = {},
): Promise<EmulatorTrust> {
  const dir = options.dir ?? (await mkdtemp(path.join(os.tmpdir(), 'keyvault-trust-')));
  const material = await generateEmulatorCertificate();
  const files = await writeCertificateFiles(material, dir);
  const previous =
    options.previousBundle && existsSync(options.previousBundle)
      ? readFileSync(options.previousBundle, 'utf8')
      : '';
  const caBundlePath = path.join(dir, 'ca-bundle.pem');
  await writeFile(caBundlePath, `${previous.trimEnd()}${previous ? '\n' : ''}${material.certPem}`, {
    mode: 0o644,
  });
  return {
    ...files,
    caBundlePath,
    dispose: () => (options.dir ? Promise.resolve() : rm(dir, { recursive: true, force: true })),
  };
}
