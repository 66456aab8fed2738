/**
 * Starts one in-memory Azurite for the whole test run and hands its connection string to the tests
 * (`inject('azuriteConnectionString')`). Tests isolate themselves with unique container/table names.
 */
import type { TestProject } from 'vitest/node';

import { startAzurite } from '../../dev/azurite';
import { prepareEmulatorTrust } from '../../dev/keyvault/trust';

declare module 'vitest' {
  export interface ProvidedContext {
    azuriteConnectionString: string;
    azuriteBlobEndpoint: string;
    azuriteTableEndpoint: string;
    /** The run-wide Key Vault emulator certificate/key; start emulators with `{ tls: { certPath, keyPath } }`. */
    keyVaultCertPath: string;
    keyVaultKeyPath: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const azurite = await startAzurite();
  project.provide('azuriteConnectionString', azurite.connectionString);
  project.provide('azuriteBlobEndpoint', azurite.blobEndpoint);
  project.provide('azuriteTableEndpoint', azurite.tableEndpoint);
  // Workers are forked after this runs and inherit process.env, and Node reads NODE_EXTRA_CA_CERTS only at
  // start: so the emulator certificate is made here, once, and trusted by every worker (verification stays on).
  const keyVaultTrust = await prepareEmulatorTrust({ previousBundle: process.env.NODE_EXTRA_CA_CERTS });
  process.env.NODE_EXTRA_CA_CERTS = keyVaultTrust.caBundlePath;
  project.provide('keyVaultCertPath', keyVaultTrust.certPath);
  project.provide('keyVaultKeyPath', keyVaultTrust.keyPath);
  return async () => {
    await azurite.stop();
    await keyVaultTrust.dispose();
  };
}
