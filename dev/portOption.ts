/** Command-line port parsing shared by the dev entry points (host, Key Vault emulator, sandbox, stack). */

/** Parses `--<name>` as a TCP port (0 picks a free one); `fallback` when absent; throws naming the option. */
export function parsePortOption(raw: string | undefined, name: string, fallback: number): number {
  if (raw === undefined) return fallback;
  const port = Number(raw);
  if (raw.trim() === '' || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`--${name} must be a port number (0 picks a free one), got "${raw}".`);
  }
  return port;
}
