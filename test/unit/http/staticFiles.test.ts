import { describe, expect, it } from 'vitest';

import { createStaticFileServer, toAssetPath } from '../../../shared/http/staticFiles';

const files: Record<string, string> = {
  '/site/index.html': '<!doctype html>',
  '/site/app-ABCDEFGH.js': 'console.log(1)',
  '/site/app-ABCDEFGH.css': 'body{}',
};
const read = (file: string) => {
  const body = files[file];
  if (body === undefined) return Promise.reject(Object.assign(new Error('missing'), { code: 'ENOENT' }));
  return Promise.resolve(Buffer.from(body));
};
const serve = createStaticFileServer('/site', { readFile: read });
const get = (path: string | undefined, extra: { ifNoneMatch?: string; urlPath?: string } = {}) =>
  serve({
    path,
    ifNoneMatch: extra.ifNoneMatch ?? null,
    urlPath: extra.urlPath ?? `/api/ui/${path ?? ''}`,
    method: 'GET',
  });

describe('toAssetPath', () => {
  it('maps an empty path to the index file', () => {
    expect(toAssetPath(undefined)).toBe('index.html');
    expect(toAssetPath('')).toBe('index.html');
  });

  it('refuses traversal, dot-files, backslashes and unknown extensions', () => {
    for (const bad of [
      '../secrets.json',
      'a/../../x.js',
      '.env',
      'x/.git/config.js',
      'a\\b.js',
      'a//b.js',
      'x.exe',
      'x',
    ])
      expect(toAssetPath(bad), bad).toBeUndefined();
  });
});

describe('createStaticFileServer', () => {
  it('serves the index with no-cache, its content type and the page security headers', async () => {
    const response = await get('');
    expect(response.status).toBe(200);
    expect(response.headers).toMatchObject({
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-cache',
      'x-content-type-options': 'nosniff',
    });
    expect((response.headers as Record<string, string>)['content-security-policy']).toContain(
      "default-src 'self'",
    );
  });

  it('caches content-hashed assets for a year as immutable', async () => {
    const script = await get('app-ABCDEFGH.js');
    expect(script.headers).toMatchObject({
      'content-type': 'text/javascript; charset=utf-8',
      'cache-control': 'public, max-age=31536000, immutable',
    });
    const style = await get('app-ABCDEFGH.css');
    expect((style.headers as Record<string, string>)['content-type']).toBe('text/css; charset=utf-8');
  });

  it('answers 304 when If-None-Match holds the current ETag', async () => {
    const first = await get('app-ABCDEFGH.js');
    const etag = (first.headers as Record<string, string>).etag!;
    expect((await get('app-ABCDEFGH.js', { ifNoneMatch: `"other", ${etag}` })).status).toBe(304);
    expect((await get('app-ABCDEFGH.js', { ifNoneMatch: '"other"' })).status).toBe(200);
  });

  it('answers a JSON 404 for a missing or refused file', async () => {
    for (const path of ['nothing.js', '../index.html']) {
      const response = await get(path);
      expect(response.status, path).toBe(404);
      expect((response as { jsonBody: { error: { code: string } } }).jsonBody.error.code).toBe('not_found');
    }
  });

  it('redirects the folder without its slash to the folder with it', async () => {
    const response = await get(undefined, { urlPath: '/api/ui' });
    expect(response.status).toBe(308);
    expect(response.headers).toMatchObject({ location: '/api/ui/' });
  });
});
