/**
 * Exports (the connector's "Add export"): admins manage all; contributors manage those whose connection
 * is shared with them. Saving checks the list (`GET /api/3/lists/{id}`) and the segments, and never runs
 * an export. A detached export (`connectionId: null`) is visible to admins and waits for a connection.
 */
import type { ConnectionRecord } from '../domain/records/connection';
import type { ExportRecord } from '../domain/records/exportDefinition';
import { ForbiddenError, NotFoundError, ValidationError } from '../errors';
import { canUseConnection, isAdmin, requireConnectionUse } from '../http/authorization';
import { ifMatchOf } from '../http/etag';
import { listBody, ListQuery } from '../http/list';
import type { Principal } from '../http/principal';
import { staleEtag } from './connections';
import { type ApiRoute, apiRoute } from './route';
import { ExportCreate, ExportList, ExportPatch, ExportView, IdParams } from './schemas';
import type { ApiServices } from './services';
import { verifyList } from './verification';

const tag = 'exports';

/** The connection an export names, checked for this caller; a missing one is a 400 on the field. */
async function usableConnection(
  services: ApiServices,
  principal: Principal,
  id: string,
): Promise<ConnectionRecord> {
  const found = await services.records.connections.find(id);
  if (!found) {
    throw new ValidationError('Unknown connection', [
      { field: 'body.connectionId', message: `no connection with id "${id}"` },
    ]);
  }
  requireConnectionUse(principal, found.record);
  return found.record;
}

/** Throws 403 unless the caller may manage this export (admins: any; contributors: shared connection). */
async function requireExportAccess(
  services: ApiServices,
  principal: Principal,
  record: ExportRecord,
): Promise<void> {
  if (isAdmin(principal)) return;
  if (record.connectionId === null)
    throw new ForbiddenError('This export has no connection; only admins manage it');
  const connection = await services.records.connections.find(record.connectionId);
  if (!connection || !canUseConnection(principal, connection.record)) {
    throw new ForbiddenError(
      `The export's connection "${record.connectionId}" is not shared with contributors`,
    );
  }
}

/** Checks the list and the segments of a definition against ActiveCampaign and segment storage. */
async function verifyDefinition(
  services: ApiServices,
  connection: ConnectionRecord,
  check: { listId?: number; segments?: readonly string[] },
): Promise<void> {
  if (check.segments) {
    const missing = await services.segments.missing(check.segments);
    if (missing.length > 0) {
      throw new ValidationError(
        'Unknown segments',
        missing.map((name) => ({
          field: `body.segments.${check.segments!.indexOf(name)}`,
          message: `segment "${name}" was not found in segment storage`,
        })),
        undefined,
        { code: 'segment_not_found', status: 422 },
      );
    }
  }
  if (check.listId !== undefined) {
    const apiKey = await services.secrets.getApiKey(connection.id);
    await verifyList(services, connection, apiKey, check.listId);
  }
}

export const exportRoutes: ApiRoute[] = [
  apiRoute({
    name: 'exports-create',
    method: 'POST',
    route: 'exports',
    tag,
    summary: 'Create an export (checks the list and segments; never runs it)',
    roles: ['Admin', 'Contributor'],
    body: ExportCreate,
    response: { status: 201, description: 'The new export (ETag header set)', schema: ExportView },
    errors: [422, 503],
    async handler({ body, principal, services }) {
      const connection = await usableConnection(services, principal, body.connectionId);
      await verifyDefinition(services, connection, { listId: body.listId, segments: body.segments });
      const at = services.now().toISOString();
      const record: ExportRecord = {
        id: services.newId(),
        ...body,
        createdAt: at,
        createdBy: principal.id,
        updatedAt: at,
        updatedBy: principal.id,
      };
      const stored = await services.records.exports.create(record);
      return { body: stored.record, etag: stored.etag };
    },
  }),
  apiRoute({
    name: 'exports-list',
    method: 'GET',
    route: 'exports',
    tag,
    summary: 'List exports (contributors: those on connections shared with them)',
    roles: ['Admin', 'Contributor'],
    query: ListQuery,
    response: { status: 200, description: 'One page of exports', schema: ExportList },
    async handler({ query, principal, services }) {
      const page = await services.records.exports.list({
        continuation: query.continuation,
        limit: query.limit,
      });
      let items = page.items.map((s) => s.record);
      if (!isAdmin(principal)) {
        const shared = new Set<string>();
        for await (const c of services.records.connections.all())
          if (canUseConnection(principal, c.record)) shared.add(c.record.id);
        items = items.filter((e) => e.connectionId !== null && shared.has(e.connectionId));
      }
      return { body: listBody(items, page.next) };
    },
  }),
  apiRoute({
    name: 'exports-get',
    method: 'GET',
    route: 'exports/{id:guid}',
    tag,
    summary: 'Read an export',
    roles: ['Admin', 'Contributor'],
    params: IdParams,
    response: { status: 200, description: 'The export (ETag header set)', schema: ExportView },
    errors: [404],
    async handler({ params, principal, services }) {
      const stored = await services.records.exports.get(params.id);
      await requireExportAccess(services, principal, stored.record);
      return { body: stored.record, etag: stored.etag };
    },
  }),
  apiRoute({
    name: 'exports-update',
    method: 'PATCH',
    route: 'exports/{id:guid}',
    tag,
    summary: 'Change an export (a changed list, connection or segments are checked again; never runs it)',
    roles: ['Admin', 'Contributor'],
    params: IdParams,
    body: ExportPatch,
    response: { status: 200, description: 'The changed export (new ETag)', schema: ExportView },
    errors: [404, 412, 422, 503],
    async handler({ params, body, principal, services, request }) {
      const ifMatch = ifMatchOf(request);
      const stored = await services.records.exports.get(params.id);
      await requireExportAccess(services, principal, stored.record);
      if (ifMatch !== undefined && ifMatch !== stored.etag) throw staleEtag(stored.record.id);
      const next: ExportRecord = {
        ...stored.record,
        ...body,
        updatedAt: services.now().toISOString(),
        updatedBy: principal.id,
      };
      if (next.connectionId === null) {
        if (body.listId !== undefined || body.segments !== undefined) {
          throw new ValidationError('This export has no connection', [
            { field: 'body.connectionId', message: 'give the export a connection to check its list against' },
          ]);
        }
      } else {
        const connectionChanged =
          body.connectionId !== undefined && body.connectionId !== stored.record.connectionId;
        const connection = await usableConnection(services, principal, next.connectionId);
        await verifyDefinition(services, connection, {
          ...(connectionChanged || body.listId !== undefined ? { listId: next.listId } : {}),
          ...(body.segments !== undefined ? { segments: body.segments } : {}),
        });
      }
      const saved = await services.records.exports.replace(next, ifMatch ?? stored.etag);
      return { body: saved.record, etag: saved.etag };
    },
  }),
  apiRoute({
    name: 'exports-delete',
    method: 'DELETE',
    route: 'exports/{id:guid}',
    tag,
    summary: 'Delete an export definition',
    roles: ['Admin', 'Contributor'],
    params: IdParams,
    response: { status: 204, description: 'Deleted' },
    errors: [404, 412],
    async handler({ params, principal, services, request }) {
      const ifMatch = ifMatchOf(request);
      const stored = await services.records.exports.find(params.id);
      if (!stored) throw new NotFoundError(`No export with id "${params.id}"`);
      await requireExportAccess(services, principal, stored.record);
      await services.records.exports.delete(stored.record.id, ifMatch ?? stored.etag);
      return { status: 204 };
    },
  }),
];
