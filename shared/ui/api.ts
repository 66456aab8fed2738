/**
 * The admin page's only way to the app: the public HTTP API under `/api/`. Payload types are the API's
 * own zod schemas (`import type`: erased at build, so the page cannot drift from the API and ships no zod).
 * In Azure the browser's App Service Authentication session reaches the API as `x-ms-client-principal`;
 * under `npm start` the API's local development mode answers loopback requests as the local admin.
 */
import type { z } from 'zod';

import type { RunRecord } from '../adapters/tables/runStore';
import type { Me } from '../api/me';
import type {
  ConnectionCreate,
  ConnectionPatch,
  ConnectionView,
  ContributorConnection,
  ExportCreate,
  ExportPatch,
  ExportView,
  SegmentSummary,
} from '../api/schemas';
import type { RunReport } from '../run/report';
import type { RunView } from '../run/runView';

export type { Me, RunRecord, RunReport, RunView };
export type AdminConnection = z.infer<typeof ConnectionView>;
export type SharedConnection = z.infer<typeof ContributorConnection>;
export type Connection = AdminConnection | SharedConnection;
export type ConnectionInput = z.input<typeof ConnectionCreate>;
export type ConnectionChange = z.input<typeof ConnectionPatch>;
export type Export = z.infer<typeof ExportView>;
export type ExportInput = z.input<typeof ExportCreate>;
export type ExportChange = z.input<typeof ExportPatch>;
export type Segment = z.infer<typeof SegmentSummary>;
export interface Page<T> {
  items: T[];
  next: string | null;
}
export interface StartedRun {
  runId: string;
  outcome: 'started' | 'followUpRequested';
  alreadyRequested?: boolean;
  statusUrl: string;
}

/** One field-level problem, as the API's error body names it (`body.mapping.email`). */
export interface ErrorDetail {
  path: string;
  message: string;
}

/** An API answer that was not a success: status, the API's code and message, and its field details. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: ErrorDetail[],
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** `/api/` as seen from the page (`/api/ui/` → `/api/`), whatever the route prefix. */
export const API_BASE = location.pathname.replace(/\/ui(\/.*)?$/, '/');

/** An API URL: `path` under `/api/` with query parameters (undefined ones left out). */
export function apiUrl(
  path: string,
  query: Record<string, string | number | boolean | undefined> = {},
): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) if (value !== undefined) params.set(name, String(value));
  const search = params.toString();
  return `${API_BASE}${path}${search ? `?${search}` : ''}`;
}

/** True when a connection as listed carries the admin's fields (contributors see id, name and type). */
export function isAdminView(connection: Connection): connection is AdminConnection {
  return 'hostname' in connection;
}

async function call<T>(
  method: string,
  path: string,
  options: { body?: unknown; query?: Record<string, string | number | boolean | undefined> } = {},
): Promise<T> {
  const response = await fetch(apiUrl(path, options.query), {
    method,
    headers: {
      accept: 'application/json',
      ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
    credentials: 'same-origin',
  });
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  if (!response.ok) {
    const error = (
      json as { error?: { code?: string; message?: string; details?: ErrorDetail[] } } | undefined
    )?.error;
    throw new ApiError(
      response.status,
      error?.code ?? `http_${response.status}`,
      error?.message ?? `The app answered ${response.status} ${response.statusText}`,
      error?.details ?? [],
    );
  }
  return json as T;
}

const id = encodeURIComponent;

/** Every API call the page makes. */
export const api = {
  me: () => call<Me>('GET', 'me'),
  connections: () => call<Page<Connection>>('GET', 'connections', { query: { limit: 1000 } }),
  createConnection: (body: ConnectionInput) => call<AdminConnection>('POST', 'connections', { body }),
  updateConnection: (connectionId: string, body: ConnectionChange) =>
    call<AdminConnection>('PATCH', `connections/${id(connectionId)}`, { body }),
  verifyConnection: (connectionId: string) =>
    call<{ verified: true; verifiedAt: string }>('POST', `connections/${id(connectionId)}/verify`),
  deleteConnection: (connectionId: string, detach: boolean) =>
    call<undefined>('DELETE', `connections/${id(connectionId)}`, { query: { detach: detach || undefined } }),
  exports: () => call<Page<Export>>('GET', 'exports', { query: { limit: 1000 } }),
  createExport: (body: ExportInput) => call<Export>('POST', 'exports', { body }),
  updateExport: (exportId: string, body: ExportChange) =>
    call<Export>('PATCH', `exports/${id(exportId)}`, { body }),
  deleteExport: (exportId: string) => call<undefined>('DELETE', `exports/${id(exportId)}`),
  segments: () => call<Page<Segment>>('GET', 'segments'),
  startRun: (
    exportId: string,
    options: { dryRun?: boolean; fullResync?: boolean; confirmUnsubscribes?: number } = {},
  ) =>
    call<StartedRun>('POST', `exports/${id(exportId)}/runs`, {
      query: {
        dryRun: options.dryRun || undefined,
        fullResync: options.fullResync || undefined,
        confirmUnsubscribes: options.confirmUnsubscribes,
      },
    }),
  runAll: () =>
    call<{ items: { exportId: string; outcome: string; runId?: string; reason?: string }[] }>(
      'POST',
      'exports/run-all',
    ),
  runs: (exportId: string, limit = 50) =>
    call<Page<RunRecord>>('GET', `exports/${id(exportId)}/runs`, { query: { limit } }),
  run: (exportId: string, runId: string) => call<RunView>('GET', `exports/${id(exportId)}/runs/${id(runId)}`),
  cancelRun: (exportId: string, runId: string) =>
    call<{ runId: string; status: string }>('POST', `exports/${id(exportId)}/runs/${id(runId)}/cancel`),
  report: (exportId: string, runId: string) =>
    call<RunReport>('GET', `exports/${id(exportId)}/runs/${id(runId)}/report`),
  rejectedUrl: (exportId: string, runId: string) =>
    apiUrl(`exports/${id(exportId)}/runs/${id(runId)}/rejected`),
};
