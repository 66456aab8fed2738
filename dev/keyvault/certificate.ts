/**
 * The emulator's TLS certificate: self-signed, for `127.0.0.1`, `::1` and `localhost`.
 *
 * Clients trust it through `NODE_EXTRA_CA_CERTS` (read by Node only at process start,
 * https://nodejs.org/api/cli.html#node_extra_ca_certsfile), so it is also written to a PEM file.
 * Certificate verification is never turned off.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { generate } from 'selfsigned';

/** A PEM certificate and its private key. */
export interface TlsMaterial {
  certPem: string;
  keyPem: string;
}

/** The same, written to files. */
export interface TlsFiles {
  certPath: string;
  keyPath: string;
}

/**
 * Generates a fresh self-signed certificate (EC P-256, SHA-256, valid `days` days) for loopback names.
 * Each has its own subject: OpenSSL picks a trusted certificate by subject name, so in a CA bundle holding
 * two emulator certificates (a test run's and the stack's it starts) a shared subject made the second fail
 * verification as DEPTH_ZERO_SELF_SIGNED_CERT.
 */
export async function generateEmulatorCertificate(days = 30): Promise<TlsMaterial> {
  const notBeforeDate = new Date(Date.now() - 60_000); // tolerate small clock skew between processes
  const notAfterDate = new Date(notBeforeDate.getTime() + days * 86_400_000);
  const commonName = `Key Vault emulator (local development) ${randomBytes(6).toString('hex')}`;
  const pems = await generate([{ name: 'commonName', value: commonName }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate,
    extensions: [
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
          { type: 7, ip: '::1' },
        ],
      },
    ],
  });
  return { certPem: pems.cert, keyPem: pems.private };
}

/** Writes `material` as `keyvault-emulator.crt.pem` / `.key.pem` into `dir` (key readable by the owner only). */
export async function writeCertificateFiles(material: TlsMaterial, dir: string): Promise<TlsFiles> {
  await mkdir(dir, { recursive: true });
  const certPath = path.join(dir, 'keyvault-emulator.crt.pem');
  const keyPath = path.join(dir, 'keyvault-emulator.key.pem');
  await writeFile(certPath, material.certPem, { mode: 0o644 });
  await writeFile(keyPath, material.keyPem, { mode: 0o600 });
  return { certPath, keyPath };
}

/** Reads a certificate and key written by `writeCertificateFiles` (or any PEM pair). */
export async function readCertificateFiles(files: TlsFiles): Promise<TlsMaterial> {
  const [certPem, keyPem] = await Promise.all([
    readFile(files.certPath, 'utf8'),
    readFile(files.keyPath, 'utf8'),
  ]);
  return { certPem, keyPem };
}
