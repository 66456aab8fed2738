/** The management API's reads and bulk purge: one instance's status, the instance list, purge by filter. */
import type { DurableEngine } from './engine';
import { bool, error, type Reply, RUNTIME_STATUSES, toStatusPayload } from './httpApi';
import { isTerminal, type RuntimeStatus } from './store';

/** `GET instances/{id}`: the status (202 with Location while it runs), history and input as asked. */
export async function getStatus(
  engine: DurableEngine,
  instanceId: string,
  q: URLSearchParams,
  selfUrl: string,
): Promise<Reply> {
  const showHistory = bool(q.get('showHistory'), false);
  const showHistoryOutput = bool(q.get('showHistoryOutput'), false);
  const showInput = bool(q.get('showInput'), true);
  const snapshot = await engine.getStatus(instanceId, showHistory);
  if (!snapshot) return { status: 404 };
  const status = snapshot.record.runtimeStatus;
  const body = toStatusPayload(snapshot, { showInput, showHistoryOutput });
  if (status === 'Running' || status === 'Pending' || status === 'ContinuedAsNew' || status === 'Suspended')
    return { status: 202, body, headers: { Location: selfUrl, 'Retry-After': '5' } };
  if (status === 'Failed' && bool(q.get('returnInternalServerErrorOnFailure'), false))
    return { status: 500, body };
  return { status: 200, body };
}

/** Whether an instance passes the list/purge filter; a Reply for a bad filter. */
function matchesFilter(
  record: { runtimeStatus: RuntimeStatus; createdTime: string; instanceId: string },
  q: URLSearchParams,
): boolean | Reply {
  const statuses = (q.get('runtimeStatus') ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const status of statuses)
    if (!RUNTIME_STATUSES.includes(status as RuntimeStatus))
      return error(400, `Unknown runtimeStatus '${status}'`);
  if (statuses.length && !statuses.includes(record.runtimeStatus)) return false;
  const from = q.get('createdTimeFrom');
  const to = q.get('createdTimeTo');
  const created = Date.parse(record.createdTime);
  if (from && created < Date.parse(from)) return false;
  if (to && created > Date.parse(to)) return false;
  const prefix = q.get('instanceIdPrefix');
  if (prefix && !record.instanceId.startsWith(prefix)) return false;
  return true;
}

/** `GET instances`: filtered, in creation order, paged with `x-ms-continuation-token`. */
export async function listInstances(
  engine: DurableEngine,
  q: URLSearchParams,
  tokenHeader: string | string[] | undefined,
): Promise<Reply> {
  const showInput = bool(q.get('showInput'), false);
  const top = Number.parseInt(q.get('top') ?? '', 10);
  const pageSize = Number.isFinite(top) && top > 0 ? top : 100;
  const token = Array.isArray(tokenHeader) ? tokenHeader[0] : tokenHeader;
  const offset = token ? Number.parseInt(Buffer.from(token, 'base64').toString('utf8'), 10) || 0 : 0;
  const all = (await engine.listInstances()).sort((a, b) =>
    a.createdTime === b.createdTime
      ? a.instanceId < b.instanceId
        ? -1
        : 1
      : a.createdTime < b.createdTime
        ? -1
        : 1,
  );
  const matching = [];
  for (const record of all) {
    const verdict = matchesFilter(record, q);
    if (typeof verdict === 'object') return verdict;
    if (verdict) matching.push(record);
  }
  const page = matching.slice(offset, offset + pageSize);
  const headers: Record<string, string> = {};
  if (offset + pageSize < matching.length)
    headers['x-ms-continuation-token'] = Buffer.from(String(offset + pageSize)).toString('base64');
  return {
    status: 200,
    headers,
    body: page.map((record) => toStatusPayload({ record }, { showInput, showHistoryOutput: false })),
  };
}

/** `DELETE instances`: purges the finished instances the filter selects. */
export async function purgeByFilter(engine: DurableEngine, q: URLSearchParams): Promise<Reply> {
  if (!q.get('createdTimeFrom') || Number.isNaN(Date.parse(q.get('createdTimeFrom')!)))
    return error(400, "Please provide value for 'createdTimeFrom' parameter.");
  let deleted = 0;
  for (const record of await engine.listInstances()) {
    const verdict = matchesFilter(record, q);
    if (typeof verdict === 'object') return verdict;
    // Only finished instances are purged; a running one would lose its state under it.
    if (verdict && isTerminal(record.runtimeStatus)) {
      await engine.purge(record.instanceId);
      deleted += 1;
    }
  }
  if (deleted === 0) return { status: 404 };
  return { status: 200, body: { instancesDeleted: deleted } };
}
