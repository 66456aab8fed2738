/**
 * Connections (the connector's "Add connection"): admins create, change, verify and delete them;
 * contributors list and read those shared with them, as `{ id, displayName, type }` only.
 * The API key goes to Key Vault after ActiveCampaign accepted it; the record holds only the secret's name.
 */
import { resolveActiveCampaignBaseUrl } from '../adapters/activecampaign/host';
import { toSecretName } from '../adapters/keyvault';
import { CONNECTION_TYPE, type ConnectionRecord } from '../domain/records/connection';
import { ConflictError, PreconditionFailedError, ValidationError } from '../errors';
import { isAdmin, requireConnectionUse, toContributorView } from '../http/authorization';
import { ifMatchOf } from '../http/etag';
import { listBody, ListQuery } from '../http/list';
import type { Principal } from '../http/principal';
import { type ApiRoute, apiRoute } from './route';
import {
  ConnectionCreate,
  ConnectionDeleteQuery,
  ConnectionList,
  ConnectionPatch,
  ConnectionView,
  ContributorConnection,
  IdParams,
  VerifyResult,
} from './schemas';
import type { ApiServices } from './services';
import { verifyCredentials } from './verification';

/** The host rule's verdict on a hostname, as a 400 on `field`; returns the normalised hostname. */
function checkHostname(services: ApiServices, hostname: string, field: string): string {
  try {
    resolveActiveCampaignBaseUrl(hostname, {
      allowedSuffixes: services.config.ACTIVECAMPAIGN_ALLOWED_HOST_SUFFIXES,
      allowLoopbackHttp: services.config.ACTIVECAMPAIGN_ALLOW_LOOPBACK_HTTP,
    });
  } catch (error) {
    if (error instanceof ValidationError) {
      throw new ValidationError(
        'Invalid ActiveCampaign host',
        error.issues.map((i) => ({ field, message: i.message })),
      );
    }
    throw error;
  }
  return hostname.trim().toLowerCase();
}

/** What this caller may see of a connection. */
function viewOf(principal: Principal, connection: ConnectionRecord) {
  return isAdmin(principal) ? connection : toContributorView(connection);
}

const tag = 'connections';

/** The 412 of an If-Match that no longer matches. */
export function staleEtag(id: string): PreconditionFailedError {
  return new PreconditionFailedError(
    `The record "${id}" was changed since it was read (ETag mismatch); read it again and retry`,
  );
}

export const connectionRoutes: ApiRoute[] = [
  apiRoute({
    name: 'connections-create',
    method: 'POST',
    route: 'connections',
    tag,
    summary: 'Create a connection (verifies key and host with ActiveCampaign first)',
    description:
      'Verifies the API key and host with `GET /api/3/users/me`, stores the key in Key Vault and the connection ' +
      'record (which names the secret, never holds the key). The caller is recorded as the export user.',
    roles: ['Admin'],
    body: ConnectionCreate,
    response: { status: 201, description: 'The new connection (ETag header set)', schema: ConnectionView },
    errors: [422, 503],
    async handler({ body, principal, services }) {
      const hostname = checkHostname(services, body.hostname, 'body.hostname');
      await verifyCredentials(services, hostname, body.apiKey);
      const id = services.newId();
      const at = services.now().toISOString();
      const record: ConnectionRecord = {
        id,
        type: CONNECTION_TYPE,
        displayName: body.displayName,
        hostname,
        allowContributors: body.allowContributors,
        secretName: toSecretName(id),
        exportUser: principal.name,
        dataPrivacyAcceptedAt: at,
        dataPrivacyAcceptedBy: principal.id,
        lastVerifiedAt: at,
        createdAt: at,
        createdBy: principal.id,
        updatedAt: at,
        updatedBy: principal.id,
      };
      await services.secrets.putApiKey(id, body.apiKey);
      try {
        const stored = await services.records.connections.create(record);
        return { body: stored.record, etag: stored.etag };
      } catch (error) {
        // No record, no key: a key without its connection would be an orphan nobody can see.
        await services.secrets.deleteApiKey(id).catch(() => undefined);
        throw error;
      }
    },
  }),
  apiRoute({
    name: 'connections-list',
    method: 'GET',
    route: 'connections',
    tag,
    summary: 'List connections (contributors: only those shared with them, as id, displayName and type)',
    roles: ['Admin', 'Contributor'],
    query: ListQuery,
    response: { status: 200, description: 'One page of connections', schema: ConnectionList },
    async handler({ query, principal, services }) {
      const page = await services.records.connections.list({
        continuation: query.continuation,
        limit: query.limit,
      });
      const visible = page.items
        .map((s) => s.record)
        .filter((c) => isAdmin(principal) || c.allowContributors)
        .map((c) => viewOf(principal, c));
      return { body: listBody(visible, page.next) };
    },
  }),
  apiRoute({
    name: 'connections-get',
    method: 'GET',
    route: 'connections/{id:guid}',
    tag,
    summary: 'Read a connection (contributors: a shared one, as id, displayName and type)',
    roles: ['Admin', 'Contributor'],
    params: IdParams,
    response: {
      status: 200,
      description: 'The connection (ETag header set for admins)',
      schema: ConnectionView.or(ContributorConnection),
    },
    errors: [404],
    async handler({ params, principal, services }) {
      const stored = await services.records.connections.get(params.id);
      requireConnectionUse(principal, stored.record);
      return isAdmin(principal)
        ? { body: stored.record, etag: stored.etag }
        : { body: toContributorView(stored.record) };
    },
  }),
  apiRoute({
    name: 'connections-update',
    method: 'PATCH',
    route: 'connections/{id:guid}',
    tag,
    summary:
      'Change a connection; a new key or host is verified first, a new key becomes a new secret version',
    roles: ['Admin'],
    params: IdParams,
    body: ConnectionPatch,
    response: { status: 200, description: 'The changed connection (new ETag)', schema: ConnectionView },
    errors: [404, 412, 422, 503],
    async handler({ params, body, principal, services, request }) {
      const ifMatch = ifMatchOf(request);
      const stored = await services.records.connections.get(params.id);
      // Checked before ActiveCampaign and Key Vault are touched; the write below checks again.
      if (ifMatch !== undefined && ifMatch !== stored.etag) throw staleEtag(stored.record.id);
      const at = services.now().toISOString();
      const hostname =
        body.hostname === undefined
          ? stored.record.hostname
          : checkHostname(services, body.hostname, 'body.hostname');
      const reverify = body.apiKey !== undefined || hostname !== stored.record.hostname;
      if (reverify) {
        const apiKey = body.apiKey ?? (await services.secrets.getApiKey(stored.record.id));
        await verifyCredentials(services, hostname, apiKey);
        if (body.apiKey !== undefined) await services.secrets.putApiKey(stored.record.id, body.apiKey);
      }
      const record: ConnectionRecord = {
        ...stored.record,
        ...(body.displayName === undefined ? {} : { displayName: body.displayName }),
        ...(body.allowContributors === undefined ? {} : { allowContributors: body.allowContributors }),
        hostname,
        ...(reverify ? { lastVerifiedAt: at } : {}),
        updatedAt: at,
        updatedBy: principal.id,
      };
      const saved = await services.records.connections.replace(record, ifMatch ?? stored.etag);
      return { body: saved.record, etag: saved.etag };
    },
  }),
  apiRoute({
    name: 'connections-delete',
    method: 'DELETE',
    route: 'connections/{id:guid}',
    tag,
    summary: 'Delete a connection and its key (409 while exports use it, unless ?detach=true)',
    description:
      'With `?detach=true` the exports that use the connection keep their definition with `connectionId: null` ' +
      'and do not run until given a connection.',
    roles: ['Admin'],
    params: IdParams,
    query: ConnectionDeleteQuery,
    response: { status: 204, description: 'Deleted' },
    errors: [404, 409, 412],
    async handler({ params, query, principal, services, request }) {
      const ifMatch = ifMatchOf(request);
      const stored = await services.records.connections.get(params.id);
      if (ifMatch !== undefined && ifMatch !== stored.etag) throw staleEtag(stored.record.id);
      const users = [];
      for await (const e of services.records.exports.all())
        if (e.record.connectionId === stored.record.id) users.push(e);
      if (users.length > 0 && query.detach !== 'true') {
        const named = users
          .slice(0, 10)
          .map((u) => `"${u.record.name}" (${u.record.id})`)
          .join(', ');
        throw new ConflictError(
          `The connection is used by ${users.length} export(s): ${named}${users.length > 10 ? ', …' : ''}; ` +
            'delete them first, or pass ?detach=true to keep them without a connection',
        );
      }
      const at = services.now().toISOString();
      for (const user of users) {
        await services.records.exports.replace(
          { ...user.record, connectionId: null, updatedAt: at, updatedBy: principal.id },
          user.etag,
        );
      }
      await services.records.connections.delete(stored.record.id, ifMatch ?? stored.etag);
      await services.secrets.deleteApiKey(stored.record.id);
      return { status: 204 };
    },
  }),
  apiRoute({
    name: 'connections-verify',
    method: 'POST',
    route: 'connections/{id:guid}/verify',
    tag,
    summary: 'Verify a stored connection against ActiveCampaign again',
    roles: ['Admin'],
    params: IdParams,
    response: { status: 200, description: 'Verified; lastVerifiedAt updated', schema: VerifyResult },
    errors: [404, 422, 503],
    async handler({ params, services }) {
      const stored = await services.records.connections.get(params.id);
      const apiKey = await services.secrets.getApiKey(stored.record.id);
      await verifyCredentials(services, stored.record.hostname, apiKey, 'connection.hostname');
      const at = services.now().toISOString();
      const saved = await services.records.connections.replace(
        { ...stored.record, lastVerifiedAt: at },
        stored.etag,
      );
      return { body: { verified: true, verifiedAt: at, connection: saved.record }, etag: saved.etag };
    },
  }),
];
