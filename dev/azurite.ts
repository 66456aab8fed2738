/**
 * Starts Azurite from its npm package as a child process on free loopback ports.
 * Used by the test suite (in memory) and by `npm start` (on disk).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';

import { stopChildProcess } from './childProcess';

/** Azurite's fixed development account (public, documented by Microsoft; not a secret). */
export const AZURITE_ACCOUNT = 'devstoreaccount1';
export const AZURITE_KEY =
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface AzuriteOptions {
  /** Folder for on-disk persistence; omitted means in-memory. */
  location?: string;
  /** Fixed ports; 0 (the default) picks free ones. */
  blobPort?: number;
  queuePort?: number;
  tablePort?: number;
}

export interface RunningAzurite {
  blobEndpoint: string;
  queueEndpoint: string;
  tableEndpoint: string;
  /** A full connection string for all three services. */
  connectionString: string;
  /** Azurite's process id (benchmarks read its CPU time). */
  pid: number | undefined;
  stop(): Promise<void>;
}

/** Starts Azurite and resolves once all three services listen. */
export async function startAzurite(options: AzuriteOptions = {}): Promise<RunningAzurite> {
  const entry = path.join(path.dirname(require.resolve('azurite/package.json')), 'dist/src/azurite.js');
  const args = [
    entry,
    '--disableTelemetry',
    '--skipApiVersionCheck',
    '--loose',
    // No access log: nobody reads it, and writing a line per request cost Azurite ~0.5 s of CPU per 1M-row
    // Prepare (bench/results/pipeline.md).
    '--silent',
    '--blobHost',
    '127.0.0.1',
    '--queueHost',
    '127.0.0.1',
    '--tableHost',
    '127.0.0.1',
    '--blobPort',
    String(options.blobPort ?? 0),
    '--queuePort',
    String(options.queuePort ?? 0),
    '--tablePort',
    String(options.tablePort ?? 0),
    ...(options.location ? ['--location', options.location] : ['--inMemoryPersistence']),
  ];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const endpoints = await waitForEndpoints(child);
  const { blob, queue, table } = endpoints;
  const blobEndpoint = `${blob}/${AZURITE_ACCOUNT}`;
  const queueEndpoint = `${queue}/${AZURITE_ACCOUNT}`;
  const tableEndpoint = `${table}/${AZURITE_ACCOUNT}`;
  return {
    blobEndpoint,
    queueEndpoint,
    tableEndpoint,
    connectionString:
      `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};` +
      `BlobEndpoint=${blobEndpoint};QueueEndpoint=${queueEndpoint};TableEndpoint=${tableEndpoint};`,
    pid: child.pid,
    stop: () => stopChildProcess(child, 5_000),
  };
}

function waitForEndpoints(child: ChildProcess): Promise<{ blob: string; queue: string; table: string }> {
  return new Promise((resolve, reject) => {
    const found: Record<string, string> = {};
    let output = '';
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      for (const m of output.matchAll(
        /Azurite (Blob|Queue|Table) service is successfully listening at (\S+)/g,
      )) {
        found[m[1]!.toLowerCase()] = m[2]!;
      }
      if (found.blob && found.queue && found.table) {
        child.stdout?.off('data', onData);
        child.stdout?.resume();
        child.stderr?.resume();
        resolve({ blob: found.blob, queue: found.queue, table: found.table });
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('exit', (code) =>
      reject(new Error(`Azurite exited with code ${code} before listening:\n${output}`)),
    );
    setTimeout(() => reject(new Error(`Azurite did not start within 30 s:\n${output}`)), 30_000).unref();
  });
}
