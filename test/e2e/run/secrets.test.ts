import { TableServiceClient } from '@azure/data-tables';
import { BlobServiceClient } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { azuriteConnectionString } from '../../helpers/azurite';
import { type AppStack, startAppStack } from './appStack';
import { peopleCsv, putSegmentFile, reportOf, sandboxContacts, waitForRun } from './seed';

async function json(res: Response): Promise<Record<string, unknown>> {
  return (await res.json()) as Record<string, unknown>;
}

describe('an export run set up through the management API', () => {
  let stack: AppStack;

  beforeAll(async () => {
    stack = await startAppStack({
      sandbox: {
        timeScale: 20,
        faults: { rate429: 0.3, failedBatchRate: 0.5, injectedRetryAfterSeconds: 1 },
      },
    });
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('runs an export created over HTTP, and the API key appears in no history, status, report, table, blob or log', async () => {
    const apiKey = stack.sandbox.apiKey;
    await putSegmentFile(stack.segments, 'api/part-1.csv', peopleCsv(700, { from: 200_000 }));
    const post = (path: string, body: unknown) =>
      fetch(`${stack.api}/${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const connection = await post('connections', {
      displayName: 'Sandbox',
      hostname: stack.sandbox.hostForClient,
      apiKey,
      acceptDataPrivacy: true,
    });
    expect(connection.status).toBe(201);
    const { id: connectionId } = await json(connection);
    const created = await post('exports', {
      name: 'Through the API',
      connectionId,
      listId: 1,
      mapping: { email: 'Email', firstName: 'FirstName', lastName: 'LastName' },
      segments: ['api'],
    });
    expect(created.status).toBe(201);
    const { id: exportId } = await json(created);
    expect(sandboxContacts(stack).size).toBe(0);

    const started = await post(`exports/${String(exportId)}/runs`, undefined);
    expect(started.status).toBe(202);
    const body = await json(started);
    expect(started.headers.get('location')).toBe(body.statusUrl);
    const runId = String(body.runId);
    const run = await waitForRun(stack, String(exportId), runId);
    expect(run.status).toBe('succeeded');
    expect(run).toMatchObject({ stage: 'done', progress: { percent: 100, confirmed: 700 } });
    const report = await reportOf(stack, String(exportId), runId);
    expect(report.counts.confirmed).toBe(700);
    expect(report.requests.throttled + report.requests.resubmits).toBeGreaterThan(0);
    expect(sandboxContacts(stack).size).toBe(700);

    // Everything the run left behind: Durable history and status, every table of this task hub, every blob
    // of the work container and the hub's large-message container, the host's log, and the API's answers.
    const everything: string[] = [stack.host.output(), JSON.stringify(run), JSON.stringify(report)];
    const status = await fetch(
      `${stack.host.url}/runtime/webhooks/durabletask/instances/${runId}?showHistory=true&showHistoryOutput=true&showInput=true`,
    );
    everything.push(await status.text());
    const tables = TableServiceClient.fromConnectionString(azuriteConnectionString(), {
      allowInsecureConnection: true,
    });
    let tablesSeen = 0;
    for await (const table of tables.listTables()) {
      if (!table.name?.startsWith(stack.hub)) continue;
      tablesSeen++;
      const client = (await import('@azure/data-tables')).TableClient.fromConnectionString(
        azuriteConnectionString(),
        table.name,
        { allowInsecureConnection: true },
      );
      for await (const entity of client.listEntities()) everything.push(JSON.stringify(entity));
    }
    expect(tablesSeen).toBeGreaterThanOrEqual(5);
    const blobs = BlobServiceClient.fromConnectionString(azuriteConnectionString());
    for (const container of [
      stack.work,
      blobs.getContainerClient(`${stack.hub.toLowerCase()}-largemessages`),
    ]) {
      if (!(await container.exists())) continue;
      for await (const blob of container.listBlobsFlat()) {
        if (blob.name.endsWith('.br') || blob.name.endsWith('.gz')) continue; // contact data, compressed
        everything.push((await container.getBlobClient(blob.name).downloadToBuffer()).toString('utf8'));
      }
    }
    const joined = everything.join('\n');
    expect(joined.length).toBeGreaterThan(10_000);
    expect(joined).toContain(runId);
    expect(joined).not.toContain(apiKey);
  });
});
