/**
 * The Durable HTTP management API, as the extension serves it (Azure/azure-functions-durable-extension
 * `HttpApiHandler.cs`) both at the client's `rpcBaseUrl` (`/durabletask/...`, what `DurableClient.js` calls)
 * and at the webhook base (`/runtime/webhooks/durabletask/...`, what `createCheckStatusResponse` links to):
 *
 *   POST   orchestrators/{name}[/{instanceId}]          202 + management payload; 400 unknown function;
 *                                                       409 id taken by a running instance; 413 too large
 *   GET    instances/{id}?showHistory&showHistoryOutput&showInput
 *                                                       202 running/pending/suspended, 200 otherwise
 *                                                       (500 for Failed with returnInternalServerErrorOnFailure)
 *   GET    instances/?runtimeStatus&createdTimeFrom&createdTimeTo&instanceIdPrefix&showInput&top
 *                                                       200 + list; x-ms-continuation-token paging
 *   DELETE instances/{id}                               200 {instancesDeleted:1}, 404, 412 not terminal
 *   DELETE instances/?createdTimeFrom&createdTimeTo&runtimeStatus   200 {instancesDeleted:n}, 404 none, 400
 *   POST   instances/{id}/raiseEvent/{event}            202, 404, 410 finished, 400 not JSON, 413
 *   POST   instances/{id}/terminate|suspend|resume?reason   202, 404, 410 finished
 *   POST   instances/{id}/rewind|restart, entities/...  501: not implemented locally (loud, never silent)
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

import type { DurableEngine, InstanceSnapshot } from './engine';
import { InstanceExistsError } from './engine';
import { PayloadTooLargeError } from './errors';
import { EventType, eventTypeName, type HistoryEvent } from './history';
import { getStatus, listInstances, purgeByFilter } from './instanceQueries';
import { isTerminal, type RuntimeStatus } from './store';

/** Path of the extension's webhooks on the Functions host. */
export const WEBHOOK_PATH = '/runtime/webhooks/durabletask';
/** Path of the RPC endpoint on the backend's own server. */
export const RPC_PATH = '/durabletask';

export interface HttpApiOptions {
  engine: DurableEngine;
  taskHubName: string;
  /** Connection setting name shown in management URLs (the extension's default is `Storage`). */
  connectionName: string;
}

/** An answer of the management API. */
export interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export const RUNTIME_STATUSES: readonly RuntimeStatus[] = [
  'Pending',
  'Running',
  'Completed',
  'ContinuedAsNew',
  'Failed',
  'Canceled',
  'Terminated',
  'Suspended',
];

function parseJsonOrUndefined(text: string | undefined): unknown {
  return text === undefined ? null : (JSON.parse(text) as unknown);
}

/** A boolean query parameter (`true`/`false`, any case), or the fallback. */
export function bool(value: string | null, fallback: boolean): boolean {
  if (value === null) return fallback;
  return value.toLowerCase() === 'true';
}

/** `DateTime.ToString("s") + "Z"` as the extension formats status times. */
function statusTime(iso: string): string {
  return `${iso.slice(0, 19)}Z`;
}

/**
 * The history as the status API shows it (durable-functions-http-api "Get instance status"): event type
 * names, OrchestratorStarted/Completed and the scheduling events left out, a completion carries the
 * `FunctionName` and `ScheduledTime` of what it completes.
 */
export function toStatusHistory(
  history: HistoryEvent[],
  showHistoryOutput: boolean,
  showInput: boolean,
): unknown[] {
  const scheduled = new Map<number, HistoryEvent>();
  const out: Record<string, unknown>[] = [];
  for (const event of history) {
    const type = event.EventType;
    if (type === EventType.TaskScheduled || type === EventType.SubOrchestrationInstanceCreated) {
      scheduled.set(event.EventId, event);
      continue;
    }
    if (type === EventType.OrchestratorStarted || type === EventType.OrchestratorCompleted) continue;
    const item: Record<string, unknown> = { EventType: eventTypeName(type) };
    switch (type) {
      case EventType.ExecutionStarted:
        item.FunctionName = event.Name;
        if (showInput) item.Input = parseJsonOrUndefined(event.Input as string | undefined);
        break;
      case EventType.TaskCompleted:
      case EventType.SubOrchestrationInstanceCompleted:
      case EventType.TaskFailed:
      case EventType.SubOrchestrationInstanceFailed: {
        const source = scheduled.get(event.TaskScheduledId as number);
        item.EventId = event.TaskScheduledId;
        item.FunctionName = source?.Name;
        if (
          type === EventType.SubOrchestrationInstanceCompleted ||
          type === EventType.SubOrchestrationInstanceFailed
        )
          item.InstanceId = source?.InstanceId;
        if (type === EventType.TaskCompleted || type === EventType.SubOrchestrationInstanceCompleted) {
          if (showHistoryOutput) item.Result = parseJsonOrUndefined(event.Result as string | undefined);
        } else {
          item.Reason = event.Reason;
          item.Details = event.Details;
        }
        item.ScheduledTime = source?.Timestamp;
        break;
      }
      case EventType.TimerCreated:
        item.EventId = event.EventId;
        item.FireAt = event.FireAt;
        break;
      case EventType.TimerFired:
        item.EventId = event.TimerId;
        item.FireAt = event.FireAt;
        break;
      case EventType.EventRaised:
        item.Name = event.Name;
        if (showHistoryOutput) item.Input = parseJsonOrUndefined(event.Input as string | undefined);
        break;
      case EventType.ExecutionCompleted:
        item.OrchestrationStatus = event.OrchestrationStatus;
        if (showHistoryOutput || event.OrchestrationStatus === 'Failed') {
          try {
            item.Result = parseJsonOrUndefined(event.Result as string | undefined);
          } catch {
            item.Result = event.Result;
          }
        }
        if (event.FailureDetails) item.FailureDetails = event.FailureDetails;
        break;
      case EventType.ExecutionTerminated:
        item.Input = event.Input;
        break;
      default:
        for (const [key, value] of Object.entries(event))
          if (!['EventType', 'EventId', 'IsPlayed', 'Timestamp'].includes(key)) item[key] = value;
    }
    item.Timestamp = event.Timestamp;
    out.push(item);
  }
  return out;
}

/** The status payload (`StatusResponsePayload` of the extension). */
export function toStatusPayload(
  snapshot: InstanceSnapshot,
  options: { showInput: boolean; showHistoryOutput: boolean },
): Record<string, unknown> {
  const { record } = snapshot;
  return {
    name: record.name,
    instanceId: record.instanceId,
    runtimeStatus: record.runtimeStatus,
    input: options.showInput ? parseJsonOrUndefined(record.input) : null,
    customStatus: parseJsonOrUndefined(record.customStatus),
    output: parseJsonOrUndefined(record.output),
    createdTime: statusTime(record.createdTime),
    lastUpdatedTime: statusTime(record.lastUpdatedTime),
    ...(snapshot.history
      ? { historyEvents: toStatusHistory(snapshot.history, options.showHistoryOutput, options.showInput) }
      : {}),
  };
}

/** Builds the management URLs for an instance (`HttpManagementPayload`). */
export function managementPayload(
  origin: string,
  instanceId: string,
  taskHubName: string,
  connectionName: string,
): Record<string, string> {
  const base = `${origin}${WEBHOOK_PATH}/instances/${encodeURIComponent(instanceId)}`;
  const query = `taskHub=${encodeURIComponent(taskHubName)}&connection=${encodeURIComponent(connectionName)}`;
  return {
    id: instanceId,
    statusQueryGetUri: `${base}?${query}`,
    sendEventPostUri: `${base}/raiseEvent/{eventName}?${query}`,
    terminatePostUri: `${base}/terminate?reason={text}&${query}`,
    rewindPostUri: `${base}/rewind?reason={text}&${query}`,
    purgeHistoryDeleteUri: `${base}?${query}`,
    restartPostUri: `${base}/restart?${query}`,
    suspendPostUri: `${base}/suspend?reason={text}&${query}`,
    resumePostUri: `${base}/resume?reason={text}&${query}`,
  };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function send(res: ServerResponse, reply: Reply): void {
  const headers: Record<string, string> = { ...reply.headers };
  let body = '';
  if (reply.body !== undefined) {
    body = JSON.stringify(reply.body);
    headers['Content-Type'] = 'application/json; charset=utf-8';
  }
  res.writeHead(reply.status, headers);
  res.end(body);
}

/** An error answer with the extension's `{ Message }` body. */
export function error(status: number, message: string): Reply {
  return { status, body: { Message: message } };
}

/** `POST orchestrators/{name}[/{instanceId}]`: starts an instance (202 with the management links). */
async function startOrchestration(
  options: HttpApiOptions,
  req: IncomingMessage,
  origin: string,
  name: string,
  instanceId: string,
): Promise<Reply> {
  const { engine, taskHubName, connectionName } = options;
  if (!engine.isOrchestrator(name))
    return error(
      400,
      `The function '${name}' doesn't exist, is disabled, or is not an orchestrator function.`,
    );
  const text = await readBody(req);
  let inputJson: string | undefined;
  if (text.length > 0) {
    try {
      inputJson = JSON.stringify(JSON.parse(text));
    } catch {
      return error(400, 'Invalid JSON content');
    }
  }
  try {
    await engine.startNew(name, instanceId, inputJson);
  } catch (e) {
    if (e instanceof InstanceExistsError) return error(409, e.message);
    if (e instanceof PayloadTooLargeError) return error(413, e.message);
    throw e;
  }
  const payload = managementPayload(origin, instanceId, taskHubName, connectionName);
  return {
    status: 202,
    body: payload,
    headers: { Location: payload.statusQueryGetUri!, 'Retry-After': '10' },
  };
}

/** `POST instances/{id}/raiseEvent/{name}`, `…/terminate`, `…/suspend`, `…/resume` (rewind and restart: 501). */
async function instanceOperation(
  engine: DurableEngine,
  req: IncomingMessage,
  q: URLSearchParams,
  instanceId: string,
  parts: string[],
): Promise<Reply> {
  const operation = parts[2]!;
  const snapshot = await engine.getStatus(instanceId, false);
  if (operation === 'raiseEvent' && parts.length === 4) {
    if (!snapshot) return { status: 404 };
    if (isTerminal(snapshot.record.runtimeStatus)) return { status: 410 };
    const contentType = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (contentType !== 'application/json')
      return error(400, 'Only application/json request content is supported');
    const text = await readBody(req);
    let dataJson: string | undefined;
    try {
      dataJson = text.length === 0 ? undefined : JSON.stringify(JSON.parse(text));
    } catch {
      return error(400, 'Invalid JSON content');
    }
    try {
      await engine.raiseEvent(instanceId, parts[3]!, dataJson);
    } catch (e) {
      if (e instanceof PayloadTooLargeError) return error(413, e.message);
      throw e;
    }
    return { status: 202 };
  }
  if (parts.length !== 3) return { status: 404 };
  if (operation === 'terminate' || operation === 'suspend' || operation === 'resume') {
    if (!snapshot) return { status: 404 };
    if (isTerminal(snapshot.record.runtimeStatus)) return { status: 410 };
    await engine.control(instanceId, operation, q.get('reason') ?? undefined);
    return { status: 202 };
  }
  if (operation === 'rewind' || operation === 'restart') {
    if (!snapshot) return error(404, `No orchestration with instance ID "${instanceId}" found.`);
    return error(
      501,
      `The ${operation} operation is not supported by the local Durable backend (dev/durable).`,
    );
  }
  return { status: 404 };
}

/** Handles the management API; `path` is the part after the base path (e.g. `instances/abc`). */
export function createHttpApi(options: HttpApiOptions): {
  handle(req: IncomingMessage, res: ServerResponse, basePath: string): Promise<void>;
} {
  const { engine } = options;

  async function route(req: IncomingMessage, basePath: string): Promise<Reply> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const origin = `http://${req.headers.host ?? '127.0.0.1'}`;
    const path = decodeURIComponent(url.pathname)
      .slice(basePath.length)
      .replace(/^\/+|\/+$/g, '');
    const parts = path.split('/');
    const method = req.method ?? 'GET';
    const q = url.searchParams;

    if (parts[0] === 'orchestrators' && parts.length >= 2 && parts.length <= 3) {
      if (method !== 'POST') return { status: 404 };
      return startOrchestration(options, req, origin, parts[1]!, parts[2] || randomUUID().replace(/-/g, ''));
    }

    if (parts[0] === 'entities')
      return error(501, 'Durable entities are not supported by the local Durable backend (dev/durable).');

    if (parts[0] !== 'instances') return { status: 404 };
    const instanceId = parts[1] ?? '';

    if (instanceId === '') {
      if (method === 'GET') return listInstances(engine, q, req.headers['x-ms-continuation-token']);
      if (method === 'DELETE') return purgeByFilter(engine, q);
      return { status: 404 };
    }

    if (parts.length === 2) {
      if (method === 'GET') return getStatus(engine, instanceId, q, url.toString());
      if (method === 'DELETE') {
        const snapshot = await engine.getStatus(instanceId, false);
        if (!snapshot) return { status: 404 };
        if (!isTerminal(snapshot.record.runtimeStatus))
          return error(
            412,
            `Only orchestrations in a terminal state can be purged, but the orchestration with instance ID ${instanceId} has status ${snapshot.record.runtimeStatus}`,
          );
        await engine.purge(instanceId);
        return { status: 200, body: { instancesDeleted: 1 } };
      }
      return { status: 404 };
    }

    if (method !== 'POST') return { status: 404 };
    return instanceOperation(engine, req, q, instanceId, parts);
  }

  return {
    async handle(req, res, basePath) {
      try {
        send(res, await route(req, basePath));
      } catch (e) {
        send(res, error(500, `Something went wrong while processing your request: ${(e as Error).message}`));
      }
    },
  };
}
