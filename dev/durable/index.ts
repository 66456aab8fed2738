/**
 * The local Durable backend: what the Durable Functions extension does for an app in Azure, for the local
 * host (dev/host). It runs orchestrations through the real `durable-functions` replay executor, keeps
 * history in Azure Tables/Blobs (Azurite), runs activities with host.json's concurrency limits, and serves
 * the management API the `durableClient` binding points at. See engine.ts, store.ts and httpApi.ts.
 *
 *   const backend = await startDurableBackend({ host, storageConnectionString, taskHubName, hostJson, baseUrl });
 *   // the host's HTTP server forwards `/runtime/webhooks/durabletask/*` to backend.handleWebhook(req, res)
 *   await backend.stop();
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

import type {
  DurableBackend as HostDurableBackend,
  DurableBackendOptions as HostDurableBackendOptions,
} from '../host/types';
import { DurableEngine } from './engine';
import { createHttpApi, managementPayload, RPC_PATH, WEBHOOK_PATH } from './httpApi';
import { type DurableStore, TableStore } from './store';

export { DurableEngine } from './engine';
export {
  NonDeterministicOrchestrationError,
  PayloadTooLargeError,
  UnsupportedDurableFeatureError,
} from './errors';
export { RPC_PATH, WEBHOOK_PATH } from './httpApi';
export { MemoryStore, TableStore } from './store';

/**
 * Default payload limit: 1 MiB of JSON per input/output/event/custom status. Azure Storage itself caps a
 * table entity at 1 MiB and a queue message at 64 KiB (the Azure Storage provider offloads larger ones to
 * blobs); orchestration payloads in this app carry ids, counts and blob references, so anything near this
 * limit is a bug worth failing on locally.
 */
export const DEFAULT_MAX_PAYLOAD_BYTES = 1_048_576;

export interface DurableBackendOptions extends HostDurableBackendOptions {
  /** Largest JSON payload in bytes; default `DEFAULT_MAX_PAYLOAD_BYTES`. */
  maxPayloadBytes?: number;
  /** Storage override (tests); default a `TableStore` on `storageConnectionString`. */
  store?: DurableStore;
  /** Warnings and errors; default stderr. */
  log?: (message: string) => void;
}

export interface DurableBackend extends Required<HostDurableBackend> {
  /** The engine (tests and diagnostics). */
  engine: DurableEngine;
}

interface DurableTaskSettings {
  maxConcurrentActivityFunctions?: number;
  maxConcurrentOrchestratorFunctions?: number;
}

/** Reads `extensions.durableTask` of host.json; defaults as the extension's (10 per core in Azure; 10 here). */
export function readDurableTaskSettings(hostJson: unknown): {
  maxActivities: number;
  maxOrchestrations: number;
} {
  const settings =
    (hostJson as { extensions?: { durableTask?: DurableTaskSettings } } | undefined)?.extensions
      ?.durableTask ?? {};
  const positive = (value: unknown, fallback: number, name: string): number => {
    if (value === undefined) return fallback;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1)
      throw new Error(
        `host.json extensions.durableTask.${name} must be a positive integer, got ${JSON.stringify(value)}`,
      );
    return value;
  };
  return {
    maxActivities: positive(settings.maxConcurrentActivityFunctions, 10, 'maxConcurrentActivityFunctions'),
    maxOrchestrations: positive(
      settings.maxConcurrentOrchestratorFunctions,
      10,
      'maxConcurrentOrchestratorFunctions',
    ),
  };
}

/** The `durableClient` binding data the extension sends (lib/src/durableClient/OrchestrationClientInputData.js). */
export function durableClientBindingData(
  baseUrl: string,
  rpcBaseUrl: string,
  taskHubName: string,
  connectionName: string,
): Record<string, unknown> {
  const origin = baseUrl.replace(/\/+$/, '');
  const webhookBase = `${origin}${WEBHOOK_PATH}`;
  const query = `taskHub=${encodeURIComponent(taskHubName)}&connection=${encodeURIComponent(connectionName)}`;
  return {
    taskHubName,
    creationUrls: {
      createNewInstancePostUri: `${webhookBase}/orchestrators/{functionName}[/{instanceId}]?${query}`,
      createAndWaitOnNewInstancePostUri: `${webhookBase}/orchestrators/{functionName}[/{instanceId}]?timeout={timeoutInSeconds}&pollingInterval={intervalInSeconds}&${query}`,
    },
    managementUrls: managementPayload(origin, 'INSTANCEID', taskHubName, connectionName),
    baseUrl: webhookBase,
    requiredQueryStringParameters: query,
    rpcBaseUrl,
    httpBaseUrl: webhookBase,
    maxGrpcMessageSizeInBytes: 0,
    grpcHttpClientTimeout: '00:01:40',
  };
}

/** Starts the backend: resumes unfinished instances, serves the management API, registers the client binding. */
export async function startDurableBackend(options: DurableBackendOptions): Promise<DurableBackend> {
  const { maxActivities, maxOrchestrations } = readDurableTaskSettings(options.hostJson);
  const store = options.store ?? new TableStore(options.storageConnectionString, options.taskHubName);
  const engine = new DurableEngine({
    host: options.host,
    store,
    maxConcurrentActivities: maxActivities,
    maxConcurrentOrchestrations: maxOrchestrations,
    maxPayloadBytes: options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES,
    ...(options.log ? { log: options.log } : {}),
  });
  const connectionName = 'Storage';
  const log = options.log ?? ((message: string) => process.stderr.write(`[durable] ${message}\n`));
  // df.getClient() rewrites management URLs to http://localhost:7071 unless WEBSITE_HOSTNAME is set
  // (lib/src/durableClient/getClient.js); Core Tools sets it, so does the local host.
  if (!process.env.WEBSITE_HOSTNAME) process.env.WEBSITE_HOSTNAME = new URL(options.baseUrl).host;
  const entities = options.host.functions().filter((fn) => fn.trigger.type === 'entityTrigger');
  if (entities.length > 0)
    log(
      `entity functions (${entities.map((fn) => fn.name).join(', ')}) are registered, but Durable entities are not ` +
        `supported by the local backend: calling or signalling them fails.`,
    );
  const api = createHttpApi({ engine, taskHubName: options.taskHubName, connectionName });

  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (path.startsWith(`${RPC_PATH}/`)) void api.handle(req, res, RPC_PATH);
    else if (path.startsWith(`${WEBHOOK_PATH}/`)) void api.handle(req, res, WEBHOOK_PATH);
    else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const rpcBaseUrl = `http://127.0.0.1:${port}${RPC_PATH}/`;

  options.host.registerInputProvider('durableClient', () =>
    durableClientBindingData(options.baseUrl, rpcBaseUrl, options.taskHubName, connectionName),
  );
  try {
    await engine.start();
  } catch (error) {
    server.close();
    throw error;
  }

  return {
    rpcBaseUrl,
    webhookPath: WEBHOOK_PATH,
    handleWebhook: (req, res) => api.handle(req, res, WEBHOOK_PATH),
    engine,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await engine.stop();
    },
  };
}
