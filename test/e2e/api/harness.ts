/**
 * The management API end to end: the compiled app (`npm run build` first) on the local Functions host,
 * with its own in-memory Azurite (records tables and segment storage), the Key Vault emulator over HTTPS
 * and the ActiveCampaign sandbox over real HTTP. Every response text and host log line is kept so tests
 * can prove the API key never leaves Key Vault.
 */
import path from 'node:path';

import { TableClient } from '@azure/data-tables';
import { BlobServiceClient } from '@azure/storage-blob';
import { inject } from 'vitest';

import { type RunningAzurite, startAzurite } from '../../../dev/azurite';
import type { HostLogEntry } from '../../../dev/host/logger';
import { type RunningHost, startHost } from '../../../dev/host/startHost';
import { type RunningKeyVaultEmulator, startKeyVaultEmulator } from '../../../dev/keyvault/emulator';
import { type RunningSandbox, startSandbox } from '../../../dev/sandbox/server';
import { encodeClientPrincipal } from '../../../shared/http/principal';
import { cdmModelJson, uploadText } from '../../helpers/segmentFixtures';

const ROOT = path.resolve(__dirname, '../../..');
export const SEGMENT_CONTAINER = 'segments-e2e';
/** The sandbox account's key: shaped like a real one so a leak is unmistakable. */
export const API_KEY = 'e2ekey0123456789abcdef0123456789abcdef0123456789abcdef01234567';
export const OTHER_KEY = 'e2ekeyfedcba9876543210fedcba9876543210fedcba9876543210fedcba98';

export const ADMIN = encodeClientPrincipal({ id: 'admin-1', name: 'Ada Admin', roles: ['Admin'] });
export const CONTRIBUTOR = encodeClientPrincipal({
  id: 'contrib-1',
  name: 'Cy Contributor',
  roles: ['Contributor'],
});
export const NOBODY = encodeClientPrincipal({ id: 'reader-1', name: 'No Role', roles: [] });

export interface Answer {
  status: number;
  headers: Headers;
  text: string;
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- test assertions read it freely
}

export interface ApiStack {
  api: string;
  host: RunningHost;
  azurite: RunningAzurite;
  keyVault: RunningKeyVaultEmulator;
  sandbox: RunningSandbox;
  logs: HostLogEntry[];
  /** Every response body and header block seen so far. */
  transcript: string[];
  call(
    method: string,
    route: string,
    options?: {
      body?: unknown;
      raw?: string | Uint8Array;
      principal?: string | null;
      headers?: Record<string, string>;
    },
  ): Promise<Answer>;
  /** Every entity of a records table, as JSON text per entity. */
  entities(table: 'Connections' | 'Exports'): Promise<string[]>;
  stop(): Promise<void>;
}

/** Starts the stack; `principal` default for calls is ADMIN (pass null for none). */
export async function startApiStack(): Promise<ApiStack> {
  const azurite = await startAzurite();
  const keyVault = await startKeyVaultEmulator({
    tls: { certPath: inject('keyVaultCertPath'), keyPath: inject('keyVaultKeyPath') },
    softDeleteDelayMs: 0,
  });
  const sandbox = await startSandbox({
    // The API's own pacing is not under test here: many verifications in a row must not meet the 5 rps limit.
    requestsPerSecond: 1000,
    accounts: [
      {
        name: 'sandbox',
        apiKeys: [API_KEY, OTHER_KEY],
        lists: [
          { id: 1, name: 'Newsletter' },
          { id: 2, name: 'Customers' },
        ],
      },
    ],
  });
  const container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient(
    SEGMENT_CONTAINER,
  );
  await container.create();
  await uploadText(container, 'Newsletter/part-1.csv', ['Email\r\na@example.com\r\n']);
  await uploadText(container, 'Newsletter/part-2.csv', ['Email\r\nb@example.com\r\n']);
  const ci = 'CustomerInsights_contoso/ActiveCampaignExport';
  const blobs = [`${ci}/VIP/2024/05/02/0200/VIP_1.csv`];
  await uploadText(container, `${ci}/VIP/2024/05/01/0100/VIP_1.csv`, ['a@example.com,A,B,1,X\r\n']);
  await uploadText(container, blobs[0]!, ['a@example.com,A,B,1,X\r\n']);
  await uploadText(container, `${ci}/model.json`, [
    cdmModelJson(container.url, [
      { segment: 'VIP', blobs, format: { columnHeaders: false, delimiter: ',' } },
    ]),
  ]);

  const logs: HostLogEntry[] = [];
  const host = await startHost({
    appDir: ROOT,
    port: 0,
    logger: (entry) => logs.push(entry),
    env: {
      AzureWebJobsStorage: azurite.connectionString,
      SEGMENT_STORAGE_CONNECTION_STRING: azurite.connectionString,
      SegmentStorage: azurite.connectionString,
      SEGMENT_CONTAINER,
      EXPORT_SCHEDULE: '0 0 0 1 1 *',
      KEY_VAULT_URL: keyVault.url,
      LOCAL_DEV_MODE: 'true',
      ACTIVECAMPAIGN_ALLOW_LOOPBACK_HTTP: 'true',
      // `.invalid` never resolves (RFC 6761): the "unknown host" cause without depending on the network.
      ACTIVECAMPAIGN_ALLOWED_HOST_SUFFIXES: '.api-us1.com,.api-eu1.com,.activehosted.com,.invalid',
      DURABLE_TASK_HUB_NAME: 'ApiE2E',
    },
  });
  const api = `${host.url}/api`;
  const transcript: string[] = [];

  return {
    api,
    host,
    azurite,
    keyVault,
    sandbox,
    logs,
    transcript,
    async call(method, route, options = {}) {
      const principal = options.principal === undefined ? ADMIN : options.principal;
      const headers: Record<string, string> = {
        ...(principal === null ? {} : { 'x-ms-client-principal': principal }),
        ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...options.headers,
      };
      const body = options.raw ?? (options.body === undefined ? undefined : JSON.stringify(options.body));
      const response = await fetch(`${api}/${route}`, { method, headers, body });
      const text = await response.text();
      transcript.push(
        `${method} ${route} ${response.status} ${JSON.stringify([...response.headers])}\n${text}`,
      );
      let json: unknown;
      try {
        json = text === '' ? undefined : JSON.parse(text);
      } catch {
        json = undefined;
      }
      return { status: response.status, headers: response.headers, text, json };
    },
    async entities(table) {
      const client = TableClient.fromConnectionString(azurite.connectionString, table, {
        allowInsecureConnection: true,
      });
      const rows: string[] = [];
      try {
        for await (const entity of client.listEntities()) rows.push(JSON.stringify(entity));
      } catch (error) {
        if ((error as { statusCode?: number }).statusCode !== 404) throw error;
      }
      return rows;
    },
    async stop() {
      await host.stop();
      await sandbox.stop();
      await keyVault.stop();
      await azurite.stop();
    },
  };
}

/** Every log line of the host (function logs included), one per entry. */
export function logText(stack: ApiStack): string {
  return stack.logs.map((e) => `${e.level} ${e.category} ${e.functionName ?? ''} ${e.message}`).join('\n');
}

/** A valid connection body for the sandbox. */
export function connectionBody(
  stack: ApiStack,
  overrides: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    displayName: 'Sandbox account',
    hostname: stack.sandbox.hostForClient,
    apiKey: API_KEY,
    acceptDataPrivacy: true,
    ...overrides,
  };
}

/** A valid export body on `connectionId`. */
export function exportBody(
  connectionId: string,
  overrides: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    name: 'Weekly newsletter',
    connectionId,
    listId: 1,
    mapping: { email: 'Email' },
    segments: ['Newsletter'],
    ...overrides,
  };
}
