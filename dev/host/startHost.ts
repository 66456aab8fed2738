/**
 * The whole local host: the host core plus HTTP, timer and blob triggers, and the Durable backend
 * (dev/durable) when the app registers Durable functions. Anything the app asks for that is not implemented
 * here fails at start-up with the function and binding named.
 *
 *   const running = await startHost({ appDir: '.', port: 0 });
 *   await fetch(`${running.url}/api/health`);
 *   await running.stop();
 */
import path from 'node:path';

import { readLocalSettings } from './appFiles';
import { BlobTriggerPoller, resolveStorageConnection } from './blobTrigger';
import { createFunctionHost, type LocalFunctionHost } from './functionHost';
import { type RunningHttpServer, startHttpServer } from './http/httpServer';
import type { HostLogger } from './logger';
import { TimerScheduler } from './timerTrigger';
import type { DurableBackend, DurableBackendOptions, InvokeResult } from './types';

type StartDurableBackend = (options: DurableBackendOptions) => Promise<DurableBackend>;

export interface StartHostOptions {
  appDir: string;
  /** HTTP port; 0 picks a free one. Default: local.settings.json `Host.LocalHttpPort`, else 7071. */
  port?: number;
  /** Settings written to process.env before the app loads (they win over local.settings.json). */
  env?: Record<string, string>;
  logger?: HostLogger;
  /** How often blob triggers list their containers; default 5000 ms. */
  blobPollIntervalMs?: number;
  /** Host id used in blob receipt names; default `AzureFunctionsWebHost__hostid` or one derived from the app. */
  hostId?: string;
  /** Replaces the import of dev/durable (tests). */
  startDurableBackend?: StartDurableBackend;
}

export interface RunningHost {
  /** e.g. http://127.0.0.1:7071 */
  url: string;
  functionHost: LocalFunctionHost;
  /** The Durable backend's RPC base, when the app uses Durable Functions. */
  durableRpcBaseUrl?: string;
  /** Fires a timer function now and resolves with its result. */
  fireTimer(name: string): Promise<InvokeResult | undefined>;
  /** Runs one blob scan now and resolves when the invocations it started have finished. */
  pollBlobsNow(): Promise<void>;
  stop(): Promise<void>;
}

/** Binding types the host can fill as outputs: only the HTTP response. */
const SUPPORTED_OUTPUT_TYPES = ['http'];

/** Derives a host id like the real host: lower-case, alphanumerics and dashes, at most 32 characters. */
export function defaultHostId(appDir: string): string {
  const fromEnv = process.env.AzureFunctionsWebHost__hostid;
  const base = fromEnv ?? `local-${path.basename(path.resolve(appDir))}`;
  return (
    base
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 32) || 'local-host'
  );
}

function checkOutputs(host: LocalFunctionHost): void {
  const problems: string[] = [];
  for (const fn of host.functions()) {
    for (const [name, binding] of Object.entries(fn.bindings)) {
      if (binding.direction === 'out' && !SUPPORTED_OUTPUT_TYPES.includes(binding.type)) {
        problems.push(
          `Function "${fn.name}" has an output binding "${name}" of type "${binding.type}", which the local host does not support.`,
        );
      }
      if (binding.type === 'http' && fn.trigger.type !== 'httpTrigger') {
        problems.push(`Function "${fn.name}" has an HTTP output but is not HTTP-triggered.`);
      }
    }
  }
  if (problems.length > 0) throw new Error(problems.join('\n'));
}

function checkInputs(host: LocalFunctionHost): void {
  const problems: string[] = [];
  for (const fn of host.functions()) {
    for (const [name, binding] of Object.entries(fn.bindings)) {
      if (name === fn.triggerName || binding.direction !== 'in') continue;
      if (!host.getInputProvider(binding.type)) {
        problems.push(
          `Function "${fn.name}" has an input binding "${name}" of type "${binding.type}", which the local host does not support.`,
        );
      }
    }
  }
  if (problems.length > 0) throw new Error(problems.join('\n'));
}

async function loadDurableBackend(): Promise<StartDurableBackend> {
  // A variable specifier keeps the type-check independent of dev/durable while it is being written.
  const specifier = '../durable/index.js';
  let mod: { startDurableBackend?: unknown };
  try {
    mod = (await import(specifier)) as { startDurableBackend?: unknown };
  } catch (err) {
    throw new Error(
      `This app uses Durable Functions but the Durable backend (dev/durable) could not be loaded: ${(err as Error).message}`,
      { cause: err },
    );
  }
  if (typeof mod.startDurableBackend !== 'function') {
    throw new Error('This app uses Durable Functions but dev/durable does not export startDurableBackend().');
  }
  return mod.startDurableBackend as StartDurableBackend;
}

/** Starts the Durable backend on the host's storage and mounts its webhooks on the host's HTTP server. */
async function startDurable(
  host: LocalFunctionHost,
  options: StartHostOptions,
  server: RunningHttpServer,
): Promise<DurableBackend> {
  const start = options.startDurableBackend ?? (await loadDurableBackend());
  const storageConnectionString = resolveStorageConnection('AzureWebJobsStorage', 'Durable Functions');
  const durableTask = (host.hostJson.extensions as { durableTask?: { hubName?: unknown } } | undefined)
    ?.durableTask;
  const taskHubName = typeof durableTask?.hubName === 'string' ? durableTask.hubName : 'TestHubName';
  const backend = await start({
    host,
    storageConnectionString,
    taskHubName,
    hostJson: host.hostJson,
    baseUrl: server.url,
  });
  // Status/event/terminate URLs of createCheckStatusResponse point at the host's own origin.
  if (backend.webhookPath && backend.handleWebhook) {
    server.mount(backend.webhookPath, (req, res) => backend.handleWebhook!(req, res));
  }
  host.logger({
    level: 'information',
    category: 'host',
    message: `Durable backend ready (task hub ${taskHubName}).`,
  });
  return backend;
}

/** Says once that function/admin keys are not enforced, when an HTTP function asks for them. */
function noteUnenforcedKeys(host: LocalFunctionHost): void {
  if (
    host
      .functions()
      .some(
        (fn) =>
          fn.trigger.type === 'httpTrigger' && ['function', 'admin'].includes(String(fn.trigger.authLevel)),
      )
  ) {
    host.logger({
      level: 'information',
      category: 'host',
      message: 'authLevel function/admin keys are not enforced by the local host (as with Core Tools).',
    });
  }
}

/** Starts the local host for the app in `options.appDir`. */
export async function startHost(options: StartHostOptions): Promise<RunningHost> {
  const host = await createFunctionHost({ appDir: options.appDir, env: options.env, logger: options.logger });
  let server: RunningHttpServer | undefined;
  let durable: DurableBackend | undefined;
  let timers: TimerScheduler | undefined;
  let blobs: BlobTriggerPoller | undefined;
  let ready = false;

  const stopAll = async () => {
    ready = false;
    await timers?.stop();
    await blobs?.stop();
    await server?.close();
    await durable?.stop();
    await host.dispose();
  };

  try {
    checkOutputs(host);
    const hostStorage = process.env.AzureWebJobsStorage;
    timers = new TimerScheduler({ host, timeZone: process.env.WEBSITE_TIME_ZONE || undefined });
    blobs = new BlobTriggerPoller({
      host,
      pollIntervalMs: options.blobPollIntervalMs ?? 5_000,
      hostId: options.hostId ?? defaultHostId(host.appDir),
      receiptsConnectionString: hostStorage || undefined,
    });

    const http = (host.hostJson.extensions as { http?: { routePrefix?: unknown } } | undefined)?.http;
    const routePrefix = typeof http?.routePrefix === 'string' ? http.routePrefix : 'api';
    const port = options.port ?? readLocalSettings(host.appDir).localHttpPort ?? 7071;
    const timerScheduler = timers;
    const blobPoller = blobs;
    server = await startHttpServer({
      host,
      port,
      routePrefix,
      isReady: () => ready,
      fireFunction: (name, input) => {
        const fn = host.getFunction(name);
        let run: Promise<unknown>;
        if (fn?.trigger.type === 'timerTrigger') run = timerScheduler.fireNow(name);
        else if (fn?.trigger.type === 'blobTrigger') run = blobPoller.fire(name, input);
        else
          return Promise.reject(
            new Error(`Function "${name}" cannot be fired through the admin API locally.`),
          );
        run.catch(() => undefined); // failures are logged by the host core
        return Promise.resolve();
      },
    });

    if (host.usesDurable()) durable = await startDurable(host, options, server);
    checkInputs(host);

    noteUnenforcedKeys(host);
    ready = true;
    timers.start();
    blobs.start();
  } catch (err) {
    await stopAll().catch(() => undefined);
    throw err;
  }

  const runningTimers = timers;
  const runningBlobs = blobs;
  let stopping: Promise<void> | undefined;
  return {
    url: server.url,
    functionHost: host,
    durableRpcBaseUrl: durable?.rpcBaseUrl,
    fireTimer: (name) => runningTimers.fireNow(name),
    pollBlobsNow: () => runningBlobs.pollNow(),
    stop: () => (stopping ??= stopAll()),
  };
}
