/**
 * HTTP side of the Key Vault emulator: routes, `api-version`, the bearer challenge, paging and
 * Key Vault's error body. Routes and status codes follow `@azure/keyvault-secrets` 4.x's generated
 * operations (`api/operations.js`), which reject any status other than the one listed per route below.
 *
 * Authentication follows Key Vault's challenge protocol, as `@azure/keyvault-common`'s
 * `keyVaultAuthenticationPolicy` expects it: the SDK first sends each client's first request without a
 * token (and without its body), reads `authorization` (tenant) and `resource` (scope) from the
 * `WWW-Authenticate` header of the 401, then retries with `Authorization: Bearer <token>`.
 * https://learn.microsoft.com/azure/key-vault/general/authentication-requests-and-responses
 */
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

import type { z } from 'zod';

import { type Vault, VaultError } from './vault';
import {
  type KeyVaultErrorOut,
  secretRestoreParametersSchema,
  secretSetParametersSchema,
  secretUpdateParametersSchema,
} from './wire';

export interface KeyVaultHandlerOptions {
  vault: Vault;
  /** Base URL of this emulator, for `nextLink`. */
  vaultUrl: string;
  /** Bearer tokens the emulator accepts; anything else gets 401. */
  acceptedTokens: readonly string[];
  /** Tenant named in the challenge's `authorization` URL. */
  tenantId: string;
  /** One line per request: method, path, status, duration. Never bodies, so never secret values. */
  log: (line: string) => void;
}

/** Largest page Key Vault returns (`maxresults` may be 1-25). */
const MAX_PAGE_SIZE = 25;
const MAX_BODY_BYTES = 1024 * 1024;
/** The resource the challenge names; the SDK asks its credential for `<resource>/.default`. */
export const KEY_VAULT_RESOURCE = 'https://vault.azure.net';

type Route = (req: IncomingMessage, body: unknown, url: URL) => { status: number; body?: unknown };

/** The emulator's request listener. */
export function createKeyVaultHandler(options: KeyVaultHandlerOptions) {
  const { vault } = options;
  const accepted = options.acceptedTokens.map(digest);
  const challenge = `Bearer authorization="https://login.microsoftonline.com/${options.tenantId}", resource="${KEY_VAULT_RESOURCE}"`;

  const page = <T>(items: T[], url: URL) => pageOf(items, url, options.vaultUrl);

  function route(method: string, segments: string[]): Route | undefined {
    const [collection, name, third, ...rest] = segments;
    if (rest.length > 0) return undefined;
    if (collection === 'secrets') {
      if (name === undefined)
        return method === 'GET' ? (_r, _b, url) => ok(page(vault.listSecrets(), url)) : undefined;
      if (name === 'restore' && third === undefined && method === 'POST') {
        return (_r, body) => ok(vault.restore(parse(secretRestoreParametersSchema, body).value));
      }
      if (third === undefined) {
        if (method === 'PUT')
          return (_r, body) => ok(vault.set(name, parse(secretSetParametersSchema, body)));
        if (method === 'DELETE') return () => ok(vault.delete(name));
      }
      if (third === 'versions' && method === 'GET')
        return (_r, _b, url) => ok(page(vault.listVersions(name), url));
      if (third === 'backup' && method === 'POST') return () => ok(vault.backup(name));
      // `/secrets/{name}` and `/secrets/{name}/` both mean the latest version.
      if (method === 'GET') return () => ok(vault.get(name, third ?? ''));
      if (method === 'PATCH') {
        return (_r, body) => ok(vault.update(name, third ?? '', parse(secretUpdateParametersSchema, body)));
      }
      return undefined;
    }
    if (collection === 'deletedsecrets') {
      if (name === undefined)
        return method === 'GET' ? (_r, _b, url) => ok(page(vault.listDeleted(), url)) : undefined;
      if (third === undefined && method === 'GET') return () => ok(vault.getDeleted(name));
      if (third === undefined && method === 'DELETE') {
        return () => {
          vault.purge(name);
          return { status: 204 };
        };
      }
      if (third === 'recover' && method === 'POST') return () => ok(vault.recover(name));
    }
    return undefined;
  }

  return async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const method = req.method ?? 'GET';
    const url = new URL(req.url ?? '/', options.vaultUrl);
    let status = 500;
    try {
      const result = await dispatch(req, url, method);
      status = result.status;
      send(res, result.status, result.body, result.headers);
    } catch (error) {
      const failure =
        error instanceof VaultError
          ? error
          : new VaultError(500, 'InternalServerError', 'The emulator failed to process the request.');
      if (!(error instanceof VaultError))
        options.log(`internal error: ${(error as Error).stack ?? String(error)}`);
      status = failure.status;
      send(res, failure.status, errorBody(failure));
    } finally {
      options.log(`${method} ${url.pathname} -> ${status} (${Math.round(performance.now() - started)} ms)`);
    }
  };

  async function dispatch(
    req: IncomingMessage,
    url: URL,
    method: string,
  ): Promise<{ status: number; body?: unknown; headers?: Record<string, string> }> {
    const token = /^Bearer (\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
    if (token === undefined || !accepted.some((d) => timingSafeEqual(d, digest(token)))) {
      req.resume(); // discard any body; the SDK resends it after the challenge
      return {
        status: 401,
        headers: {
          'www-authenticate': token === undefined ? challenge : `${challenge}, error="invalid_token"`,
        },
        body: errorBody(
          new VaultError(
            401,
            'Unauthorized',
            token === undefined
              ? 'AKV10000: Request is missing a Bearer or PoP token.'
              : 'AKV10032: Invalid token: not issued for this emulator.',
          ),
        ),
      };
    }
    const apiVersion = url.searchParams.get('api-version');
    if (!apiVersion || !/^(\d+\.\d+|\d{4}-\d{2}-\d{2})(-preview(\.\d+)?)?$/.test(apiVersion)) {
      req.resume();
      throw new VaultError(
        400,
        'BadParameter',
        'The request URI contains an invalid or missing api-version.',
      );
    }
    const segments = url.pathname.split('/').slice(1).map(decodeSegment);
    // A trailing slash (`/secrets/name/`, the SDK's "latest version" form) leaves an empty last segment.
    if (segments.length > 1 && segments[segments.length - 1] === '') segments.pop();
    const handler = route(method, segments);
    if (!handler) {
      req.resume();
      throw new VaultError(404, 'NotFound', `No ${method} operation at ${url.pathname}.`);
    }
    const body = await readJson(req);
    return handler(req, body, url);
  }
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new VaultError(400, 'BadParameter', 'The request URI is not validly encoded.');
  }
}

function ok(body: unknown): { status: number; body: unknown } {
  return { status: 200, body };
}

function parse<S extends z.ZodType>(schema: S, body: unknown): z.infer<S> {
  const result = schema.safeParse(body);
  if (!result.success) {
    // Field paths and zod's messages only: a message never repeats an input value.
    const issues = result.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ');
    throw new VaultError(400, 'BadParameter', `Invalid request body: ${issues}`);
  }
  return result.data;
}

/** Slices `items` for `maxresults` / `$skiptoken` and links the next page. */
function pageOf<T>(items: T[], url: URL, vaultUrl: string): { value: T[]; nextLink: string | null } {
  const maxText = url.searchParams.get('maxresults');
  const size = maxText === null ? MAX_PAGE_SIZE : Number(maxText);
  if (!Number.isInteger(size) || size < 1 || size > MAX_PAGE_SIZE) {
    throw new VaultError(400, 'BadParameter', `maxresults must be an integer from 1 to ${MAX_PAGE_SIZE}.`);
  }
  const token = url.searchParams.get('$skiptoken');
  const offset = token === null ? 0 : Number(Buffer.from(token, 'base64url').toString('utf8'));
  if (!Number.isInteger(offset) || offset < 0)
    throw new VaultError(400, 'BadParameter', 'Invalid $skiptoken.');
  const value = items.slice(offset, offset + size);
  if (offset + size >= items.length) return { value, nextLink: null };
  const next = new URL(url.pathname, vaultUrl);
  next.searchParams.set('api-version', url.searchParams.get('api-version') ?? '');
  next.searchParams.set('$skiptoken', Buffer.from(String(offset + size), 'utf8').toString('base64url'));
  next.searchParams.set('maxresults', String(size));
  return { value, nextLink: next.toString() };
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES)
      throw new VaultError(413, 'RequestEntityTooLarge', 'The request body is too large.');
    chunks.push(chunk);
  }
  if (size === 0) return undefined;
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    throw new VaultError(400, 'BadParameter', 'The request body is not valid JSON.');
  }
}

function errorBody(error: VaultError): KeyVaultErrorOut {
  return {
    error: {
      code: error.code,
      message: error.message,
      ...(error.innerCode ? { innererror: { code: error.innerCode } } : {}),
    },
  };
}

function send(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    ...(text ? { 'content-type': 'application/json; charset=utf-8' } : {}),
    'content-length': Buffer.byteLength(text),
    'x-ms-request-id': randomUUID(),
    'x-ms-keyvault-service-version': 'emulator',
  });
  res.end(text);
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}
