/**
 * Routes are data: each is a `RouteDefinition` (method, Functions route template, zod schemas for path
 * parameters, query, body and response, summary, roles, handler). `functions/api.ts` registers every
 * definition of the index (`shared/api/routes.ts`), and `GET /api/openapi.json` is generated from the same
 * list, so a route cannot exist without being documented. `createHttpHandler` is the one boundary every
 * route goes through: principal → role → path → query → body (64 KiB, JSON, strict) → handler → response,
 * and every error through `toErrorResponse`.
 */
import type { FunctionInput, HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { z } from 'zod';

import { MethodNotAllowedError, NotFoundError, ValidationError } from '../errors';
import { requireRole } from './authorization';
import { readBodyBytes, readJsonBody } from './body';
import { toErrorResponse } from './errorResponse';
import { type Principal, principalOf, type Role } from './principal';
import { parseInput, queryObject } from './validation';

/** HTTP methods a route may have. */
export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** What a handler gets: the parsed, validated input and the app's services. */
export interface RouteContext<P, Q, B, S> {
  request: HttpRequest;
  context: InvocationContext;
  /** The caller; for `public` routes an anonymous principal without roles. */
  principal: Principal;
  params: P;
  query: Q;
  body: B;
  services: S;
}

/** What a handler returns; `status` defaults to the route's documented success status. */
export interface RouteResult {
  status?: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** The record's ETag, sent as the `ETag` header. */
  etag?: string;
  /** A body that is not JSON (e.g. a CSV download), sent as it is with its content type. */
  raw?: { body: Buffer | string; contentType: string; headers?: Record<string, string> };
}

/** One route, typed by its parameters, query, body and the services its handler uses. */
export interface RouteSpec<P, Q, B, S> {
  /** The Functions function name (letters, digits, `_`, `-`); unique. */
  name: string;
  method: HttpMethod;
  /** Functions route template under the `api` prefix, e.g. `connections/{id:guid}`. */
  route: string;
  summary: string;
  description?: string;
  /** OpenAPI tag (e.g. `connections`). */
  tag: string;
  /** Roles allowed to call it (any one suffices), or `public` for no sign-in at all. */
  roles: readonly Role[] | 'public';
  params?: z.ZodType<P>;
  query?: z.ZodType<Q>;
  body?: z.ZodType<B>;
  response: { status: number; description: string; schema?: z.ZodType };
  /** Error statuses worth documenting besides 400/401/403 (e.g. 404, 409, 412, 413, 422). */
  errors?: readonly number[];
  /** Extra inputs the registration adds (e.g. `df.input.durableClient()` for the run routes). */
  extraInputs?: FunctionInput[];
  handler(ctx: RouteContext<P, Q, B, S>): Promise<RouteResult>;
}

/** A route with its types erased, as the index lists it. */
export type RouteDefinition<S> = RouteSpec<unknown, unknown, unknown, S>;

/** Declares a route; the generic parameters are inferred from its schemas. */
export function defineRoute<S>() {
  return <P = Record<string, never>, Q = Record<string, never>, B = undefined>(
    spec: RouteSpec<P, Q, B, S>,
  ): RouteDefinition<S> => spec;
}

/** How handlers get their dependencies and settings (injected: tests pass fakes). */
export interface HandlerOptions<S> {
  services: () => S;
  localDevMode: () => boolean;
}

const NO_QUERY = z.strictObject({});
const ANONYMOUS: Principal = Object.freeze({
  id: 'anonymous',
  name: 'anonymous',
  roles: new Set<Role>(),
  local: false,
});
const SECRET_FIELD = /key|token|secret|password/i;

/** String values of body fields whose names suggest a secret, redacted from any log line. */
function secretsIn(value: unknown, found: string[] = []): string[] {
  if (value && typeof value === 'object') {
    for (const [key, inner] of Object.entries(value)) {
      if (typeof inner === 'string' && SECRET_FIELD.test(key)) found.push(inner);
      else secretsIn(inner, found);
    }
  }
  return found;
}

/** The Functions handler of one route. */
export function createHttpHandler<S>(
  route: RouteDefinition<S>,
  options: HandlerOptions<S>,
): (request: HttpRequest, context: InvocationContext) => Promise<HttpResponseInit> {
  return async (request, context) => {
    const secrets: string[] = [];
    try {
      let principal = ANONYMOUS;
      if (route.roles !== 'public') {
        principal = principalOf(request, { localDevMode: options.localDevMode() });
        requireRole(principal, route.roles);
      }
      const params = route.params ? parseInput(route.params, { ...request.params }, 'path') : {};
      const query = parseInput(route.query ?? NO_QUERY, queryObject(request.query), 'query');
      let body: unknown;
      if (route.body) {
        const raw = await readJsonBody(request);
        secretsIn(raw, secrets);
        if (raw === undefined) {
          throw new ValidationError('A JSON request body is required', [
            { field: 'body', message: 'required' },
          ]);
        }
        body = parseInput(route.body, raw, 'body');
      } else if ((await readBodyBytes(request)).byteLength > 0) {
        throw new ValidationError(`${route.method} ${route.route} takes no request body`, [
          { field: 'body', message: 'not expected' },
        ]);
      }
      const result = await route.handler({
        request,
        context,
        principal,
        params,
        query,
        body,
        services: options.services(),
      });
      const status = result.status ?? route.response.status;
      const headers: Record<string, string> = {
        ...(result.etag ? { etag: result.etag } : {}),
        ...result.headers,
      };
      if (result.raw) {
        return {
          status,
          headers: { 'content-type': result.raw.contentType, ...headers, ...result.raw.headers },
          body: result.raw.body,
        };
      }
      if (status === 204 || result.body === undefined) return { status, headers };
      return { status, headers: { 'content-type': 'application/json', ...headers }, jsonBody: result.body };
    } catch (error) {
      return toErrorResponse(error, context, secrets);
    }
  };
}

/** Splits a Functions route template into segments, each literal (lower-cased) or a parameter name. */
function templateSegments(template: string): Array<{ literal: string } | { param: string }> {
  return template
    .split('/')
    .filter(Boolean)
    .map((segment) => {
      const m = /^\{\*{0,2}([A-Za-z_]\w*)[^}]*\}$/.exec(segment);
      return m ? { param: m[1]! } : { literal: segment.toLowerCase() };
    });
}

/** The route's path parameters for `path` ignoring constraints, or undefined when its shape differs. */
export function matchTemplate(template: string, path: string): Record<string, string> | undefined {
  const wanted = templateSegments(template);
  const parts = path.split('/').filter(Boolean);
  if (parts.length !== wanted.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < parts.length; i++) {
    const want = wanted[i]!;
    const part = parts[i]!;
    if ('literal' in want) {
      if (part.toLowerCase() !== want.literal) return undefined;
    } else {
      let value = part;
      try {
        value = decodeURIComponent(part);
      } catch {
        // keep the raw segment: the route's param schema refuses it
      }
      params[want.param] = value;
    }
  }
  return params;
}

/** The OpenAPI path of a Functions route template: `/api/connections/{id}`. */
export function openApiPath(template: string): string {
  const segments = templateSegments(template).map((s) => ('literal' in s ? s.literal : `{${s.param}}`));
  return `/api/${segments.join('/')}`;
}

/**
 * The handler of the catch-all route (`{*path}` under /api): a JSON 404 for an unknown path, a JSON 405
 * (with `Allow`) for a known path with a method it does not have, and the route's own 400 when a path
 * parameter broke the route's constraint (e.g. an export id that is not a UUID).
 */
export function createFallbackHandler<S>(
  routes: readonly RouteDefinition<S>[],
): (request: HttpRequest, context: InvocationContext) => HttpResponseInit {
  return (request, context) => {
    const method = request.method.toUpperCase();
    const path = new URL(request.url).pathname.replace(/^\/api\/?/i, '');
    const shown = `/api/${path}`.slice(0, 200);
    try {
      const matching = routes.flatMap((route) => {
        const params = matchTemplate(route.route, path);
        return params ? [{ route, params }] : [];
      });
      const sameMethod = matching.find(({ route }) => route.method === method);
      if (sameMethod?.route.params) parseInput(sameMethod.route.params, sameMethod.params, 'path');
      if (matching.length === 0 || sameMethod) throw new NotFoundError(`No route ${method} ${shown}`);
      const allow = [...new Set(matching.map(({ route }) => route.method))];
      throw new MethodNotAllowedError(method, shown, allow);
    } catch (error) {
      return toErrorResponse(error, context);
    }
  };
}
