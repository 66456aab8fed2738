/**
 * Blob triggers by polling: every `pollIntervalMs` the container named by the trigger's `path` is listed;
 * each blob whose name matches the path pattern and whose current ETag has no receipt fires the function once
 * (contents as a Buffer, path parameters such as `{name}`, `BlobTrigger`, `Uri`, `Properties`, `Metadata` as
 * trigger metadata). Receipts are blobs in the host storage's `azure-webjobs-hosts` container at
 * `blobreceipts/{hostId}/Host.Functions.{function}/{etag}/{container}/{blob}`, the layout the real host uses
 * (https://learn.microsoft.com/azure/azure-functions/functions-bindings-storage-blob-trigger#blob-receipts),
 * so a restarted host does not fire again for blobs it already processed, and a changed blob (new ETag) fires
 * again. A blob that fails 5 times gets a "poisoned" receipt and is not retried (the host's
 * `maxDequeueCount` default), logged as an error instead of a message on `webjobs-blobtrigger-poison`.
 * Connections: the binding's `connection` names an app setting holding a connection string (default
 * `AzureWebJobsStorage`); identity-based connections are refused at start-up.
 */
import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';

import { statusCodeOf } from '../../shared/errors';
import type { LocalFunctionHost } from './functionHost';
import type { InvokeResult, RegisteredFunction } from './types';

const RECEIPTS_CONTAINER = 'azure-webjobs-hosts';
const MAX_ATTEMPTS = 5;

/** A parsed blob trigger path: container plus a pattern over blob names. */
export interface BlobPathPattern {
  container: string;
  /** The literal start of blob names, used as the listing prefix. */
  prefix: string;
  parameterNames: string[];
  match(blobName: string): Record<string, string> | undefined;
}

/** Parses `container/prefix/{name}.csv`; parameters capture any characters, `/` included (as in the host). */
export function parseBlobPath(path: string, where: string): BlobPathPattern {
  const slash = path.indexOf('/');
  const container = slash === -1 ? path : path.slice(0, slash);
  const blobPattern = slash === -1 ? '' : path.slice(slash + 1);
  if (!/^[a-z0-9](?:[a-z0-9-]{1,61}[a-z0-9])?$|^\$root$|^\$logs$/.test(container)) {
    throw new Error(
      `${where}: "${container}" in path "${path}" is not a valid container name (parameters are not allowed there).`,
    );
  }
  const parameterNames: string[] = [];
  let regex = '';
  for (const piece of blobPattern.split(/(\{[^}]*\})/).filter((p) => p !== '')) {
    if (piece.startsWith('{')) {
      const name = piece.slice(1, -1);
      if (name !== '*' && !/^[A-Za-z_]\w*$/.test(name))
        throw new Error(`${where}: bad parameter "${piece}" in path "${path}".`);
      if (name !== '*') parameterNames.push(name);
      regex += name === '*' ? '(?:.+?)' : '(.+?)';
    } else {
      regex += piece.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    }
  }
  const literalStart = blobPattern.split('{')[0] ?? '';
  const re = new RegExp(`^${regex === '' ? '.+' : regex}$`);
  return {
    container,
    prefix: literalStart,
    parameterNames,
    match(blobName) {
      const m = re.exec(blobName);
      if (!m) return undefined;
      const values: Record<string, string> = {};
      parameterNames.forEach((name, i) => (values[name] = m[i + 1]!));
      return values;
    },
  };
}

/** The connection string behind a binding's `connection` setting, or a loud error. */
export function resolveStorageConnection(
  settingName: string | undefined,
  where: string,
  env = process.env,
): string {
  const name = settingName && settingName !== '' ? settingName : 'AzureWebJobsStorage';
  const value = env[name] ?? env[`AzureWebJobs${name}`];
  if (value) return value;
  if (env[`${name}__serviceUri`] || env[`${name}__blobServiceUri`] || env[`${name}__accountName`]) {
    throw new Error(
      `${where}: connection "${name}" is identity-based; the local host supports connection strings only.`,
    );
  }
  throw new Error(
    `${where}: the connection setting "${name}" is not set (it must hold a storage connection string).`,
  );
}

export interface BlobTriggerOptions {
  host: LocalFunctionHost;
  /** How often each trigger lists its container. */
  pollIntervalMs: number;
  /** Names the receipts (the real host uses its host id); default derived from the app folder. */
  hostId: string;
  /** Connection string of the host storage holding receipts; default: the trigger's own storage. */
  receiptsConnectionString?: string;
}

interface Watcher {
  fn: RegisteredFunction;
  pattern: BlobPathPattern;
  container: ContainerClient;
  receipts: ContainerClient;
  connectionString: string;
}

/** Watches the blob containers of every blob-triggered function. */
export class BlobTriggerPoller {
  readonly #options: BlobTriggerOptions;
  readonly #watchers: Watcher[] = [];
  readonly #receiptsKnown = new Set<string>();
  readonly #failures = new Map<string, number>();
  #scan: Promise<void> = Promise.resolve();
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(options: BlobTriggerOptions) {
    this.#options = options;
    for (const fn of options.host.functions()) {
      if (fn.trigger.type !== 'blobTrigger') continue;
      const where = `Function "${fn.name}"`;
      if (typeof fn.trigger.path !== 'string') throw new Error(`${where}: the blob trigger has no path.`);
      const pattern = parseBlobPath(fn.trigger.path, where);
      const connectionString = resolveStorageConnection(fn.trigger.connection as string | undefined, where);
      const service = BlobServiceClient.fromConnectionString(connectionString);
      const receiptsService = options.receiptsConnectionString
        ? BlobServiceClient.fromConnectionString(options.receiptsConnectionString)
        : service;
      this.#watchers.push({
        fn,
        pattern,
        connectionString,
        container: service.getContainerClient(pattern.container),
        receipts: receiptsService.getContainerClient(RECEIPTS_CONTAINER),
      });
    }
  }

  /** True when the app has blob triggers. */
  get active(): boolean {
    return this.#watchers.length > 0;
  }

  /** Starts polling (the first scan runs immediately). */
  start(): void {
    if (this.#watchers.length === 0) return;
    for (const w of this.#watchers) {
      this.#options.host.logger({
        level: 'information',
        category: 'host',
        functionName: w.fn.name,
        message: `Watching blobs "${String(w.fn.trigger.path)}" every ${this.#options.pollIntervalMs} ms`,
      });
    }
    const tick = () => {
      if (this.#stopped) return;
      void this.pollNow().finally(() => {
        if (!this.#stopped) this.#timer = setTimeout(tick, this.#options.pollIntervalMs);
      });
    };
    tick();
  }

  /** Runs one full scan (after any scan in progress) and resolves when its invocations have finished. */
  pollNow(): Promise<void> {
    this.#scan = this.#scan.then(() => this.#scanAll());
    return this.#scan;
  }

  /** Stops polling and waits for the scan in progress. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#scan;
  }

  /** Fires a blob-triggered function for one blob now (admin route); `blobPath` is `container/name`. */
  async fire(functionName: string, blobPath: unknown): Promise<InvokeResult> {
    const watcher = this.#watchers.find((w) => w.fn.name === functionName);
    if (!watcher) throw new Error(`No blob-triggered function named "${functionName}".`);
    if (typeof blobPath !== 'string' || !blobPath.startsWith(`${watcher.pattern.container}/`)) {
      throw new Error(`Input for "${functionName}" must be a blob path in "${watcher.pattern.container}/".`);
    }
    const blobName = blobPath.slice(watcher.pattern.container.length + 1);
    const props = await watcher.container.getBlobClient(blobName).getProperties();
    return this.#invoke(watcher, blobName, {
      etag: props.etag ?? '',
      lastModified: props.lastModified ?? new Date(),
      createdOn: props.createdOn,
      contentLength: props.contentLength,
      contentType: props.contentType,
      contentEncoding: props.contentEncoding,
      contentMD5: props.contentMD5,
      blobType: props.blobType,
      metadata: props.metadata ?? {},
    });
  }

  async #scanAll(): Promise<void> {
    for (const watcher of this.#watchers) {
      if (this.#stopped) return;
      try {
        await this.#scanOne(watcher);
      } catch (err) {
        this.#options.host.logger({
          level: 'error',
          category: 'host',
          functionName: watcher.fn.name,
          message: `Blob scan of "${watcher.pattern.container}" failed: ${(err as Error).message}`,
        });
      }
    }
  }

  async #scanOne(watcher: Watcher): Promise<void> {
    const found: Array<{ name: string; blob: BlobSnapshot }> = [];
    try {
      for await (const item of watcher.container.listBlobsFlat({
        prefix: watcher.pattern.prefix,
        includeMetadata: true,
      })) {
        if (!watcher.pattern.match(item.name)) continue;
        found.push({
          name: item.name,
          blob: {
            etag: item.properties.etag,
            lastModified: item.properties.lastModified,
            createdOn: item.properties.createdOn,
            contentLength: item.properties.contentLength,
            contentType: item.properties.contentType,
            contentEncoding: item.properties.contentEncoding,
            contentMD5: item.properties.contentMD5,
            blobType: item.properties.blobType,
            metadata: item.metadata ?? {},
          },
        });
      }
    } catch (err) {
      if (statusCodeOf(err) === 404) return; // the container does not exist yet
      throw err;
    }
    for (const { name, blob } of found) {
      if (this.#stopped) return;
      const receipt = this.#receiptName(watcher, name, blob.etag);
      if (this.#receiptsKnown.has(receipt)) continue;
      if (await watcher.receipts.getBlobClient(receipt).exists()) {
        this.#receiptsKnown.add(receipt);
        continue;
      }
      try {
        await this.#invoke(watcher, name, blob);
      } catch {
        const attempts = (this.#failures.get(receipt) ?? 0) + 1;
        this.#failures.set(receipt, attempts);
        if (attempts >= MAX_ATTEMPTS) {
          this.#options.host.logger({
            level: 'error',
            category: 'host',
            functionName: watcher.fn.name,
            message: `Blob "${watcher.pattern.container}/${name}" failed ${attempts} times; it is poisoned and will not be retried until it changes.`,
          });
          await this.#writeReceipt(watcher, receipt, { completed: 'true', poisoned: 'true' });
        }
      }
    }
  }

  async #invoke(watcher: Watcher, name: string, blob: BlobSnapshot): Promise<InvokeResult> {
    const blobClient = watcher.container.getBlobClient(name);
    // Read exactly the version that was listed; a blob changed in between is picked up by the next scan.
    const content = await blobClient.downloadToBuffer(0, undefined, { conditions: { ifMatch: blob.etag } });
    const params = watcher.pattern.match(name) ?? {};
    const result = await this.#options.host.invoke(watcher.fn.name, content, {
      reason: `New blob detected(${watcher.pattern.container}/${name})`,
      triggerMetadata: {
        ...params,
        BlobTrigger: `${watcher.pattern.container}/${name}`,
        Uri: blobClient.url,
        Properties: {
          ETag: blob.etag,
          LastModified: blob.lastModified.toISOString(),
          CreatedOn: blob.createdOn?.toISOString(),
          ContentLength: blob.contentLength,
          ContentType: blob.contentType,
          ContentEncoding: blob.contentEncoding,
          ContentMD5: blob.contentMD5 ? Buffer.from(blob.contentMD5).toString('base64') : undefined,
          BlobType: blob.blobType,
        },
        Metadata: blob.metadata,
      },
    });
    const receipt = this.#receiptName(watcher, name, blob.etag);
    await this.#writeReceipt(watcher, receipt, { completed: 'true' });
    this.#failures.delete(receipt);
    return result;
  }

  async #writeReceipt(watcher: Watcher, receipt: string, metadata: Record<string, string>): Promise<void> {
    await watcher.receipts.createIfNotExists();
    await watcher.receipts.getBlockBlobClient(receipt).upload('', 0, { metadata });
    this.#receiptsKnown.add(receipt);
  }

  #receiptName(watcher: Watcher, blobName: string, etag: string): string {
    const cleanEtag = etag.replace(/"/g, '');
    return `blobreceipts/${this.#options.hostId}/Host.Functions.${watcher.fn.name}/${cleanEtag}/${watcher.pattern.container}/${blobName}`;
  }
}

interface BlobSnapshot {
  etag: string;
  lastModified: Date;
  createdOn?: Date;
  contentLength?: number;
  contentType?: string;
  contentEncoding?: string;
  contentMD5?: Uint8Array;
  blobType?: string;
  metadata: Record<string, string>;
}
