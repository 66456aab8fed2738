/**
 * Who may do what (docs/architecture.md, "Security"): admins create, change, verify and delete connections; contributors see
 * connections shared with them (`allowContributors`), only as `{ id, displayName, type }`, and manage the
 * exports that use those connections. The export run routes use the same helpers.
 */
import type { ConnectionRecord } from '../domain/records/connection';
import { ForbiddenError } from '../errors';
import type { Principal, Role } from './principal';

/** True when the principal has the Admin role. */
export function isAdmin(principal: Principal): boolean {
  return principal.roles.has('Admin');
}

/** Throws `ForbiddenError` (403) unless the principal has one of `roles`. */
export function requireRole(principal: Principal, roles: readonly Role[]): void {
  if (roles.some((role) => principal.roles.has(role))) return;
  throw new ForbiddenError(
    `This operation needs the ${roles.join(' or ')} role; ${principal.name} has ${
      principal.roles.size ? [...principal.roles].join(', ') : 'no role of this app'
    }`,
  );
}

/** Throws `ForbiddenError` (403) unless the principal is an admin. */
export function requireAdmin(principal: Principal): void {
  requireRole(principal, ['Admin']);
}

/** True when the principal may use the connection: admins always, contributors when it is shared. */
export function canUseConnection(
  principal: Principal,
  connection: Pick<ConnectionRecord, 'allowContributors'>,
): boolean {
  if (isAdmin(principal)) return true;
  return principal.roles.has('Contributor') && connection.allowContributors;
}

/** Throws `ForbiddenError` (403) unless the principal may use the connection. */
export function requireConnectionUse(
  principal: Principal,
  connection: Pick<ConnectionRecord, 'id' | 'allowContributors'>,
): void {
  if (canUseConnection(principal, connection)) return;
  throw new ForbiddenError(`The connection "${connection.id}" is not shared with contributors`);
}

/** What a contributor may see of a connection: never its host, secret name or export user. */
export interface ContributorConnectionView {
  id: string;
  displayName: string;
  type: ConnectionRecord['type'];
}

/** The contributor's view of a connection. */
export function toContributorView(connection: ConnectionRecord): ContributorConnectionView {
  return { id: connection.id, displayName: connection.displayName, type: connection.type };
}
