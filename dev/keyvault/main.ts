/**
 * `node dist/dev/keyvault/main.js [--port 8443] [--data .local/keyvault.json] [--cert-dir .local/keyvault-tls]`
 * Runs the Key Vault emulator until interrupted and prints what a client needs: the URL, the
 * certificate to trust and the token. Request lines go to stdout; secret values never do.
 */
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

import { parsePortOption } from '../portOption';
import { generateEmulatorCertificate, type TlsFiles, writeCertificateFiles } from './certificate';
import { startKeyVaultEmulator } from './emulator';

/** Parses the command line, starts the emulator and stops it on SIGINT/SIGTERM. */
export async function main(argv: string[] = process.argv.slice(2)): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string', default: '0' },
      data: { type: 'string' },
      'cert-dir': { type: 'string' },
      token: { type: 'string' },
      quiet: { type: 'boolean', default: false },
    },
  });
  const port = parsePortOption(values.port, 'port', 0);

  // With --cert-dir, reuse the certificate already there so clients keep trusting it across restarts.
  const certDir = values['cert-dir'];
  const emulator = await startKeyVaultEmulator({
    port,
    tls: certDir ? await writeOrReuse(certDir) : undefined,
    dataFile: values.data,
    token: values.token,
    log: values.quiet ? undefined : (line) => console.log(line),
  });
  console.log(
    [
      `KEY_VAULT_URL=${emulator.url}`,
      `NODE_EXTRA_CA_CERTS=${emulator.certPath}   # set before starting any Node client process`,
      `persistence: ${values.data ?? 'in memory'}`,
    ].join('\n'),
  );

  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await emulator.stop();
}

/** The certificate in `dir` if it is still valid for a week, else a new one written there. */
async function writeOrReuse(dir: string): Promise<TlsFiles> {
  const certPath = path.join(dir, 'keyvault-emulator.crt.pem');
  const keyPath = path.join(dir, 'keyvault-emulator.key.pem');
  if (existsSync(certPath) && existsSync(keyPath)) {
    const validTo = Date.parse(new X509Certificate(readFileSync(certPath)).validTo);
    if (validTo > Date.now() + 7 * 86_400_000) return { certPath, keyPath };
  }
  return writeCertificateFiles(await generateEmulatorCertificate(365), dir);
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
