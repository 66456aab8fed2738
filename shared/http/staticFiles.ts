/**
 * Static files under one folder as HTTP responses: the admin page's assets (built into `dist/ui/` by
 * `npm run build`, shipped as `ui/` in the package). Content-hashed names (`app-3FZ2K7QD.js`) are cached
 * for a year as immutable; everything else (`index.html`) is revalidated on every load with its ETag, so a
 * deployment is picked up at once. Paths are checked before the file system is touched: no `..`, no
 * dot-files, no backslashes, nothing outside the folder.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

import type { HttpResponseInit } from '@azure/functions';

import { NotFoundError } from '../errors';
import { toErrorResponse } from './errorResponse';

/** Content types by extension; anything else is not served. */
const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
};

/** esbuild's `[name]-[hash]` output: eight base32 characters before the extension. */
const HASHED_NAME = /-[A-Z0-9]{8}\.[a-z]+$/;

/** The page only loads its own files and calls its own API (https://developer.mozilla.org/docs/Web/HTTP/CSP). */
const PAGE_HEADERS: Record<string, string> = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

interface LoadedFile {
  body: Buffer;
  etag: string;
}

/** A request for one file: the path under the folder (`''` for the index) and the request's validators. */
export interface StaticRequest {
  /** The route's catch-all value, e.g. `app-3FZ2K7QD.js`; empty or missing for the index. */
  path: string | undefined;
  ifNoneMatch: string | null;
  /** The request URL's path, to send `/api/ui` to `/api/ui/` (relative asset URLs need the slash). */
  urlPath: string;
  method: string;
}

/** The relative file a request names, or undefined when it is not a servable name. */
export function toAssetPath(requested: string | undefined, indexFile = 'index.html'): string | undefined {
  const raw = requested ?? '';
  if (raw === '' || raw === '/') return indexFile;
  if (raw.includes('\\') || raw.includes('\0')) return undefined;
  const segments = raw.split('/');
  if (segments.some((s) => s === '' || s.startsWith('.'))) return undefined;
  if (!(path.extname(raw).toLowerCase() in CONTENT_TYPES)) return undefined;
  return segments.join('/');
}

/** Serves the files under `root` (read once, then kept in memory: a deployment's files never change). */
export function createStaticFileServer(
  root: string,
  options: { indexFile?: string; readFile?: (file: string) => Promise<Buffer> } = {},
) {
  const indexFile = options.indexFile ?? 'index.html';
  const read = options.readFile ?? ((file: string) => readFile(file));
  const cache = new Map<string, Promise<LoadedFile | undefined>>();
  const base = path.resolve(root);

  const load = (relative: string): Promise<LoadedFile | undefined> => {
    let loaded = cache.get(relative);
    if (!loaded) {
      const file = path.resolve(base, relative);
      if (!file.startsWith(base + path.sep)) return Promise.resolve(undefined);
      loaded = read(file).then(
        (body) => ({ body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` }),
        (error: unknown) => {
          cache.delete(relative);
          if (
            (error as { code?: string }).code === 'ENOENT' ||
            (error as { code?: string }).code === 'EISDIR'
          )
            return undefined;
          throw error;
        },
      );
      cache.set(relative, loaded);
    }
    return loaded;
  };

  /** The response for one request. */
  return async function serve(request: StaticRequest): Promise<HttpResponseInit> {
    if ((request.path ?? '') === '' && !request.urlPath.endsWith('/')) {
      return { status: 308, headers: { location: `${request.urlPath}/`, 'cache-control': 'no-cache' } };
    }
    const relative = toAssetPath(request.path, indexFile);
    const file = relative === undefined ? undefined : await load(relative);
    if (relative === undefined || file === undefined) {
      const response = toErrorResponse(
        new NotFoundError(`No file "${request.path ?? ''}" in the admin page`),
      );
      return response;
    }
    const isPage = relative.endsWith('.html');
    const headers: Record<string, string> = {
      'content-type': CONTENT_TYPES[path.extname(relative).toLowerCase()]!,
      'cache-control': HASHED_NAME.test(relative) ? 'public, max-age=31536000, immutable' : 'no-cache',
      etag: file.etag,
      'x-content-type-options': 'nosniff',
      ...(isPage ? PAGE_HEADERS : {}),
    };
    if (request.ifNoneMatch?.split(',').some((tag) => tag.trim() === file.etag)) {
      return { status: 304, headers };
    }
    return { status: 200, headers, body: request.method === 'HEAD' ? undefined : file.body };
  };
}
