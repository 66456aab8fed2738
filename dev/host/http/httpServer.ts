/**
 * Serves the app's HTTP triggers on `http://127.0.0.1:<port>/<routePrefix>/...` like `func start`:
 * route templates with parameters and constraints, 405 (with `Allow`) when a route matches but the method
 * does not, 404 otherwise, 500 without details when a function throws. Keys (`authLevel` function/admin)
 * are not enforced, exactly like Core Tools locally. Also serves the admin route the real host offers for
 * non-HTTP functions: `POST /admin/functions/{name}` with `{ "input": "..." }` → 202.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import type { LocalFunctionHost } from '../functionHost';
import type { RegisteredFunction } from '../types';
import { compareRoutePrecedence, parseRouteTemplate, type RouteMatcher } from './routeTemplate';
import { toRpcHttpRequest, writeRpcHttpResponse } from './rpcHttp';

/** The host's default request size limit (100 MB, `maxRequestBodySize` of the Functions host). */
const MAX_BODY_BYTES = 100 * 1024 * 1024;

export interface HttpRoute {
  fn: RegisteredFunction;
  matcher: RouteMatcher;
  /** Upper-case methods, or undefined for "any method". */
  methods: string[] | undefined;
}

export interface HttpServerOptions {
  host: LocalFunctionHost;
  port: number;
  /** From host.json `extensions.http.routePrefix` (default `api`; empty string for none). */
  routePrefix: string;
  /** Fires a non-HTTP function for the admin route; resolves when it was accepted. */
  fireFunction(name: string, input: unknown): Promise<void>;
  /** False while the host is still starting (requests get 503). */
  isReady(): boolean;
}

/** Serves requests under a path prefix itself (the Durable backend's webhooks). */
export type MountedHandler = (req: IncomingMessage, res: ServerResponse) => Promise<void> | void;

export interface RunningHttpServer {
  server: Server;
  url: string;
  routes: HttpRoute[];
  /** Hands every request whose path is `prefix` or under `prefix/` to `handler`, before any function route. */
  mount(prefix: string, handler: MountedHandler): void;
  close(): Promise<void>;
}

/** The route table of the app's HTTP functions, most specific first. */
export function buildRoutes(functions: RegisteredFunction[]): HttpRoute[] {
  return functions
    .filter((fn) => fn.trigger.type === 'httpTrigger')
    .map((fn) => {
      const route =
        typeof fn.trigger.route === 'string' && fn.trigger.route !== '' ? fn.trigger.route : fn.name;
      const methods = Array.isArray(fn.trigger.methods)
        ? (fn.trigger.methods as unknown[]).map((m) => String(m).toUpperCase())
        : undefined;
      let matcher: RouteMatcher;
      try {
        matcher = parseRouteTemplate(route);
      } catch (err) {
        throw new Error(`Function "${fn.name}": ${(err as Error).message}`, { cause: err });
      }
      return { fn, matcher, methods: methods && methods.length > 0 ? methods : undefined };
    })
    .sort((a, b) => compareRoutePrecedence(a.matcher, b.matcher));
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new RequestTooLarge());
        req.destroy();
      } else {
        chunks.push(chunk);
      }
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

class RequestTooLarge extends Error {
  constructor() {
    super('Request body too large');
  }
}

function sendText(
  res: ServerResponse,
  status: number,
  text: string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...headers }).end(text);
}

/** `POST /admin/functions/{name}`: fires a timer or blob function now, as the real host's admin API does. */
async function fireThroughAdmin(
  req: IncomingMessage,
  res: ServerResponse,
  method: string,
  name: string,
  options: HttpServerOptions,
): Promise<void> {
  if (method !== 'POST') {
    sendText(res, 405, '', { allow: 'POST' });
    return;
  }
  const fn = options.host.getFunction(name);
  if (!fn || fn.trigger.type === 'httpTrigger') {
    sendText(res, 404, '');
    return;
  }
  const text = (await readBody(req)).toString('utf8');
  let input: unknown;
  try {
    input = text.trim() === '' ? undefined : (JSON.parse(text) as { input?: unknown }).input;
  } catch {
    sendText(res, 400, 'The body must be JSON like {"input": "..."}.');
    return;
  }
  await options.fireFunction(fn.name, input);
  res.writeHead(202).end();
}

/**
 * The HTTP function a request goes to (routes in precedence order, under the route prefix), or the status
 * the real host answers instead: 404 when no route matches, 405 with `Allow` when only the method differs.
 */
function chooseRoute(
  routes: HttpRoute[],
  prefix: string,
  pathname: string,
  method: string,
): { route: HttpRoute; params: Record<string, string> } | { status: number; allow?: string } {
  let routePath: string;
  if (prefix === '') {
    routePath = pathname;
  } else {
    const lower = pathname.toLowerCase();
    const lowerPrefix = `/${prefix.toLowerCase()}`;
    if (lower !== lowerPrefix && !lower.startsWith(`${lowerPrefix}/`)) return { status: 404 };
    routePath = pathname.slice(lowerPrefix.length);
  }
  const matching: Array<{ route: HttpRoute; params: Record<string, string> }> = [];
  for (const route of routes) {
    const params = route.matcher.match(routePath);
    if (params) matching.push({ route, params });
  }
  if (matching.length === 0) return { status: 404 };
  const chosen = matching.find(({ route }) => !route.methods || route.methods.includes(method));
  if (!chosen) {
    const allow = [...new Set(matching.flatMap(({ route }) => route.methods ?? []))].join(', ');
    return { status: 405, allow };
  }
  return chosen;
}

/** Listens on 127.0.0.1 (port 0: a free one) and returns the server's URL. */
async function listenOnLoopback(server: Server, port: number): Promise<string> {
  server.listen(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Logs each HTTP function's methods and URL, as `func start` does. */
function logRoutes(
  routes: HttpRoute[],
  prefix: string,
  url: string,
  log: (level: 'information', message: string) => void,
): void {
  for (const route of routes) {
    const methods = route.methods?.join(',') ?? 'ALL';
    const path = [prefix, route.matcher.template.replace(/^\/+/, '')].filter((p) => p !== '').join('/');
    log('information', `${route.fn.name}: [${methods}] ${url}/${path}`);
  }
}

/** Starts the HTTP listener on 127.0.0.1. */
export async function startHttpServer(options: HttpServerOptions): Promise<RunningHttpServer> {
  const { host } = options;
  const routes = buildRoutes(host.functions());
  const prefix = options.routePrefix.replace(/^\/+|\/+$/g, '');
  const mounts: Array<{ prefix: string; handler: MountedHandler }> = [];
  const log = (level: 'information' | 'error', message: string) =>
    host.logger({ level, category: 'host', message });

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (!options.isReady()) {
      sendText(res, 503, 'The host is starting.');
      return;
    }
    const url = new URL(req.url ?? '/', 'http://localhost');
    const pathname = url.pathname;
    const method = (req.method ?? 'GET').toUpperCase();

    const mounted = mounts.find(({ prefix: p }) => pathname === p || pathname.startsWith(`${p}/`));
    if (mounted) {
      await mounted.handler(req, res);
      return;
    }
    if (pathname === '/' && (method === 'GET' || method === 'HEAD')) {
      sendText(res, 200, 'Your local Functions host is running.');
      return;
    }
    if (pathname.toLowerCase() === '/admin/host/status' && method === 'GET') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ state: 'Running' }));
      return;
    }
    const admin = /^\/admin\/functions\/([^/]+)\/?$/i.exec(pathname);
    if (admin) {
      await fireThroughAdmin(req, res, method, decodeURIComponent(admin[1]!), options);
      return;
    }
    const chosen = chooseRoute(routes, prefix, pathname, method);
    if ('status' in chosen) {
      sendText(res, chosen.status, '', chosen.allow === undefined ? {} : { allow: chosen.allow });
      return;
    }
    const body = await readBody(req);
    const request = toRpcHttpRequest(req, body, chosen.params, `127.0.0.1`);
    let response;
    try {
      response = await host.invokeHttp(chosen.route.fn.name, request);
    } catch {
      // The invocation was logged with its stack by the host; the client gets no details, like Azure.
      if (!res.headersSent) sendText(res, 500, '');
      return;
    }
    writeRpcHttpResponse(res, response);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (err instanceof RequestTooLarge) {
        if (!res.headersSent) sendText(res, 413, '');
        return;
      }
      log(
        'error',
        `HTTP handling failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
      );
      if (!res.headersSent) sendText(res, 500, '');
      else res.destroy();
    });
  });
  const url = await listenOnLoopback(server, options.port);
  logRoutes(routes, prefix, url, log);
  return {
    server,
    url,
    routes,
    mount(mountPrefix, handler) {
      mounts.push({ prefix: mountPrefix.replace(/\/+$/, ''), handler });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
