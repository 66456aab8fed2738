/** Test data for export runs: segment files in segment storage, and a connection + export. */
import { randomUUID } from 'node:crypto';

import type { ContainerClient } from '@azure/storage-blob';

import type { SandboxContact } from '../../../dev/sandbox/account';
import { createSecretStore } from '../../../shared/adapters/keyvault';
import { toSecretName } from '../../../shared/adapters/keyvault/secretName';
import { createRecordStore } from '../../../shared/adapters/tables/tableRecordStore';
import { parseConfig } from '../../../shared/config';
import type { ConnectionRecord } from '../../../shared/domain/records/connection';
import type { ExportRecord } from '../../../shared/domain/records/exportDefinition';
import { RunReport } from '../../../shared/run/report';
import { azuriteConnectionString } from '../../helpers/azurite';
import type { AppStack } from './appStack';

/** A plain-layout segment file `<segment>/<file>` with a header row. */
export async function putSegmentFile(segments: ContainerClient, name: string, csv: string): Promise<void> {
  const body = Buffer.from(csv, 'utf8');
  await segments.getBlockBlobClient(name).upload(body, body.length);
}

/** `count` people as CSV rows (Email,FirstName,LastName), emails `p<i>@example.com`; `version` changes names. */
export function peopleCsv(
  count: number,
  options: { from?: number; changed?: (i: number) => boolean } = {},
): string {
  const from = options.from ?? 0;
  const rows = ['Email,FirstName,LastName'];
  for (let i = from; i < from + count; i++) {
    rows.push(`p${i}@example.com,First${i}${options.changed?.(i) ? 'x' : ''},Last${i}`);
  }
  return `${rows.join('\r\n')}\r\n`;
}

/** Stores a connection to the stack's sandbox (key in the Key Vault emulator) and an export using it. */
export async function seedExport(
  stack: AppStack,
  overrides: Partial<ExportRecord> = {},
): Promise<{ connection: ConnectionRecord; definition: ExportRecord }> {
  const config = parseConfig({
    AzureWebJobsStorage: azuriteConnectionString(),
    DURABLE_TASK_HUB_NAME: stack.hub,
    KEY_VAULT_URL: stack.keyVault.url,
    LOCAL_DEV_MODE: 'true',
  });
  const records = createRecordStore(config);
  const now = new Date().toISOString();
  const audit = { createdAt: now, createdBy: 'test', updatedAt: now, updatedBy: 'test' };
  const connectionId = randomUUID();
  const connection: ConnectionRecord = {
    id: connectionId,
    type: 'ActiveCampaign',
    displayName: 'Sandbox',
    hostname: stack.sandbox.hostForClient,
    allowContributors: false,
    secretName: toSecretName(connectionId),
    exportUser: 'test',
    dataPrivacyAcceptedAt: now,
    dataPrivacyAcceptedBy: 'test',
    ...audit,
  };
  await createSecretStore(config).putApiKey(connectionId, stack.sandbox.apiKey);
  await records.connections.create(connection);
  const definition: ExportRecord = {
    id: randomUUID(),
    name: 'Test export',
    connectionId,
    listId: 1,
    mapping: {
      email: 'Email',
      firstName: 'FirstName',
      lastName: 'LastName',
      fields: [],
      tags: { fixed: [], separator: ',' },
    },
    segments: ['people'],
    schedule: 'refresh',
    membership: 'add',
    ...audit,
    ...overrides,
  };
  await records.exports.create(definition);
  return { connection, definition };
}

/** Starts a run over HTTP and returns its id. */
export async function startRun(
  stack: AppStack,
  exportId: string,
  query = '',
): Promise<{ runId: string; outcome: string }> {
  const res = await fetch(`${stack.api}/exports/${exportId}/runs${query}`, { method: 'POST' });
  const text = await res.text();
  if (res.status !== 202) throw new Error(`start run: HTTP ${res.status} ${text}`);
  return JSON.parse(text) as { runId: string; outcome: string };
}

/** Polls a run until it is no longer running; returns its view. */
export async function waitForRun(
  stack: AppStack,
  exportId: string,
  runId: string,
  timeoutMs = 45_000,
): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await fetch(`${stack.api}/exports/${exportId}/runs/${runId}`);
    const body = (await res.json()) as Record<string, unknown>;
    if (res.status === 200 && body.status !== 'running') return body;
    if (Date.now() > deadline)
      throw new Error(
        `run ${runId} still running after ${timeoutMs} ms: ${JSON.stringify(body)}\n${stack.host.output().slice(-4000)}`,
      );
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** A run's report. */
export async function reportOf(stack: AppStack, exportId: string, runId: string): Promise<RunReport> {
  const res = await fetch(`${stack.api}/exports/${exportId}/runs/${runId}/report`);
  if (res.status !== 200) throw new Error(`report: HTTP ${res.status} ${await res.text()}`);
  return RunReport.parse(await res.json());
}

/** Contacts the sandbox accepted in bulk imports since `fromSeq` (from its request log). */
export function bulkContactsSent(stack: AppStack, fromSeq = 0): number {
  return stack.sandbox.state.log
    .filter((r) => r.seq > fromSeq && r.path.startsWith('/api/3/import/bulk_import') && r.status === 200)
    .reduce((n, r) => n + (r.contacts ?? 0), 0);
}

/** The sandbox request log's last sequence number (a mark to count from). */
export function logMark(stack: AppStack): number {
  return stack.sandbox.state.log.at(-1)?.seq ?? 0;
}

/** The sandbox's contacts by email. */
export function sandboxContacts(stack: AppStack): Map<string, SandboxContact> {
  return new Map([...stack.sandbox.state.account(undefined).contacts.values()].map((c) => [c.email, c]));
}
