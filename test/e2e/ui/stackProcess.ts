/** `npm start` (dist/dev/stack/start.js) as a child process on free ports with a temp data dir, for browser tests. */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { AZURITE_ACCOUNT, AZURITE_KEY } from '../../../dev/azurite';

const ROOT = path.resolve(__dirname, '../../..');

export interface StackProcess {
  child: ChildProcess;
  /** The host's base URL, e.g. http://127.0.0.1:41234 */
  url: string;
  /** The page URL `npm start` printed. */
  pageUrl: string;
  sandboxUrl: string;
  sandboxHost: string;
  sandboxKey: string;
  azuriteConnectionString: string;
  output: () => string;
  dataDir: string;
}

/** Starts the stack and reads the URLs, the sandbox's host and key and Azurite's endpoint from what it printed. */
export async function startStackProcess(): Promise<StackProcess> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'ui-stack-'));
  const ports = ['--port', '--azurite-port', '--keyvault-port', '--sandbox-port'].flatMap((p) => [p, '0']);
  const child = spawn(
    process.execPath,
    [path.join(ROOT, 'dist/dev/stack/start.js'), '--data-dir', dataDir, ...ports],
    {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout?.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (output += c.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`stack not ready in 90 s:\n${output}`)), 90_000);
    child.stdout?.on('data', () => {
      const ready = /STACK READY (\S+)/.exec(output);
      if (ready) {
        clearTimeout(timer);
        resolve(ready[1]!);
      }
    });
    child.once('exit', (code) => reject(new Error(`stack exited with ${code}:\n${output}`)));
  });
  const find = (re: RegExp) => {
    const found = re.exec(output)?.[1];
    if (!found) throw new Error(`${re} not in the stack's output:\n${output}`);
    return found;
  };
  const blobEndpoint = find(/Azurite blob\s+(\S+)/);
  return {
    child,
    url,
    pageUrl: find(/Admin page\s+(\S+)/),
    sandboxUrl: find(/ActiveCampaign sandbox\s+(\S+)/),
    sandboxHost: find(/connection host: ([^,]+),/),
    sandboxKey: find(/API key: ([^;]+);/),
    azuriteConnectionString:
      `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};` +
      `BlobEndpoint=${blobEndpoint};`,
    output: () => output,
    dataDir,
  };
}

/** Stops the stack (SIGINT, as Ctrl-C) and removes its data. */
export async function stopStackProcess(stack: StackProcess | undefined): Promise<void> {
  if (!stack) return;
  if (stack.child.exitCode === null && stack.child.signalCode === null) {
    const exited = once(stack.child, 'exit');
    stack.child.kill('SIGINT');
    await exited;
  }
  await rm(stack.dataDir, { recursive: true, force: true });
}
