import { randomUUID } from 'node:crypto';
import path from 'node:path';

import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { type RunningHost, startHost } from '../../../dev/host/startHost';
import { azuriteConnectionString } from '../../helpers/azurite';
import { captureLogs, hostFixtures } from './helpers';

interface BlobLog {
  name: string;
  blobTrigger: string;
  uri: string;
  isBuffer: boolean;
  content: string;
  etag: string;
  length: number;
  metadata: Record<string, string>;
}

describe('local host blob triggers', () => {
  let container: ContainerClient;
  let running: RunningHost | undefined;
  let logs = captureLogs();
  let hostId: string;

  const fired = (): BlobLog[] =>
    logs.entries
      .filter((e) => e.functionName === 'csvLanded' && e.message.startsWith('BLOB '))
      .map((e) => JSON.parse(e.message.slice('BLOB '.length)) as BlobLog);

  async function start(): Promise<RunningHost> {
    logs = captureLogs();
    running = await startHost({
      appDir: path.join(hostFixtures, 'blob-app'),
      port: 0,
      logger: logs.logger,
      // A long interval: the tests drive scans with pollBlobsNow() so they are deterministic.
      blobPollIntervalMs: 60_000,
      hostId,
      env: {
        BLOB_CONTAINER: container.containerName,
        BlobConn: azuriteConnectionString(),
        AzureWebJobsStorage: azuriteConnectionString(),
      },
    });
    return running;
  }

  beforeEach(async () => {
    const service = BlobServiceClient.fromConnectionString(azuriteConnectionString());
    container = service.getContainerClient(`hostblob-${randomUUID().slice(0, 8)}`);
    await container.create();
    hostId = `test-${randomUUID().slice(0, 8)}`;
  });

  afterEach(async () => {
    await running?.stop();
    running = undefined;
    await container.delete();
  });

  it('fires once per new blob with {name}, contents and properties, and not again when unchanged', async () => {
    const host = await start();
    await container.getBlockBlobClient('incoming/segment-a.csv').upload('email\na@x.io\n', 13, {
      metadata: { source: 'ci' },
    });
    await container.getBlockBlobClient('incoming/ignored.txt').upload('not csv', 7);
    await container.getBlockBlobClient('other/segment-b.csv').upload('outside the path', 16);
    await host.pollBlobsNow();
    await host.pollBlobsNow();

    expect(fired()).toHaveLength(1);
    const [event] = fired();
    expect(event).toMatchObject({
      name: 'segment-a',
      blobTrigger: `${container.containerName}/incoming/segment-a.csv`,
      isBuffer: true,
      content: 'email\na@x.io\n',
      length: 13,
      metadata: { source: 'ci' },
    });
    expect(event!.uri).toBe(container.getBlobClient('incoming/segment-a.csv').url);
    expect(event!.etag).toBeTruthy();
  });

  it('fires again when a blob changes, and nothing re-fires after a restart', async () => {
    const blob = container.getBlockBlobClient('incoming/nested/dir/segment.csv');
    await blob.upload('v1', 2);
    let host = await start();
    await host.pollBlobsNow();
    expect(fired().map((e) => [e.name, e.content])).toEqual([['nested/dir/segment', 'v1']]);

    await blob.upload('v2 changed', 10);
    await host.pollBlobsNow();
    expect(fired().map((e) => e.content)).toEqual(['v1', 'v2 changed']);

    await host.stop();
    host = await start();
    await host.pollBlobsNow();
    expect(fired()).toEqual([]);
  });

  it('retries a failing blob on later scans and gives up after five attempts', async () => {
    const host = await start();
    await container.getBlockBlobClient('incoming/bad.csv').upload('FAIL', 4);
    for (let i = 0; i < 7; i++) await host.pollBlobsNow();
    const failures = logs.entries.filter(
      (e) => e.functionName === 'csvLanded' && e.message.includes('(Failed'),
    );
    expect(failures).toHaveLength(5);
    expect(logs.entries.some((e) => e.message.includes('is poisoned'))).toBe(true);
  });

  it('polls on its own at the configured interval', async () => {
    logs = captureLogs();
    running = await startHost({
      appDir: path.join(hostFixtures, 'blob-app'),
      port: 0,
      logger: logs.logger,
      blobPollIntervalMs: 100,
      hostId,
      env: {
        BLOB_CONTAINER: container.containerName,
        BlobConn: azuriteConnectionString(),
        AzureWebJobsStorage: azuriteConnectionString(),
      },
    });
    await container.getBlockBlobClient('incoming/auto.csv').upload('auto', 4);
    const deadline = Date.now() + 5_000;
    while (fired().length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(fired().map((e) => e.name)).toEqual(['auto']);
  });

  it('fails loudly at start-up when the connection setting is missing', async () => {
    delete process.env.BlobConn;
    await expect(
      startHost({
        appDir: path.join(hostFixtures, 'blob-app'),
        port: 0,
        logger: () => undefined,
        env: { BLOB_CONTAINER: container.containerName },
      }),
    ).rejects.toThrow('Function "csvLanded": the connection setting "BlobConn" is not set');
  });
});
