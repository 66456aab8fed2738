/** The local Key Vault emulator (never deployed): start it from code, or run `node dist/dev/keyvault/main.js`. */
export {
  generateEmulatorCertificate,
  type TlsFiles,
  type TlsMaterial,
  writeCertificateFiles,
} from './certificate';
export {
  EMULATOR_TENANT_ID,
  type KeyVaultEmulatorOptions,
  type RunningKeyVaultEmulator,
  startKeyVaultEmulator,
} from './emulator';
export { KEY_VAULT_RESOURCE } from './server';
export { type EmulatorTrust, prepareEmulatorTrust } from './trust';
