/**
 * Node `http` request/response ↔ `RpcHttpData`, as the Functions host sends it to a worker that announced
 * `RawHttpBodyBytes`, `UseNullableValueDictionaryForHttp` and `IgnoreEmptyValuedRpcHttpHeaders`
 * (the Node.js worker's capabilities): the body as raw bytes, headers/query/params as nullable-string maps.
 * The response side mirrors `@azure/functions` `converters/toRpcHttp.ts` and `toRpcHttpCookie.ts`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

import type { RpcHttpCookie, RpcHttpData, RpcNullableString } from '../coreTypes';

function toNullable(map: Record<string, string>): Record<string, RpcNullableString> {
  const out: Record<string, RpcNullableString> = {};
  for (const [key, value] of Object.entries(map)) out[key] = { value };
  return out;
}

/** Builds the RpcHttpData the host would send for this request. */
export function toRpcHttpRequest(
  req: IncomingMessage,
  body: Buffer,
  params: Record<string, string>,
  fallbackHost: string,
): RpcHttpData {
  const headers: Record<string, string> = {};
  for (const [name, values] of Object.entries(req.headersDistinct)) {
    const joined = (values ?? []).join(name === 'cookie' ? '; ' : ', ');
    if (joined !== '') headers[name] = joined;
  }
  const url = new URL(req.url ?? '/', `http://${req.headers.host ?? fallbackHost}`);
  // ASP.NET's query collection joins repeated keys with commas.
  const query: Record<string, string> = {};
  for (const key of new Set(url.searchParams.keys())) query[key] = url.searchParams.getAll(key).join(',');
  return {
    method: req.method ?? 'GET',
    url: url.toString(),
    headers,
    nullableHeaders: toNullable(headers),
    query,
    nullableQuery: toNullable(query),
    params,
    nullableParams: toNullable(params),
    body: { bytes: body },
  };
}

/** `Set-Cookie` value for one cookie, with the attributes the library put on the wire. */
export function toSetCookieHeader(cookie: RpcHttpCookie): string {
  const parts = [`${cookie.name ?? ''}=${cookie.value ?? ''}`];
  if (cookie.domain?.value) parts.push(`Domain=${cookie.domain.value}`);
  if (cookie.path?.value) parts.push(`Path=${cookie.path.value}`);
  const seconds = cookie.expires?.value?.seconds;
  if (seconds !== undefined && seconds !== null)
    parts.push(`Expires=${new Date(Number(seconds) * 1000).toUTCString()}`);
  if (cookie.maxAge?.value !== undefined && cookie.maxAge.value !== null)
    parts.push(`Max-Age=${cookie.maxAge.value}`);
  if (cookie.secure?.value) parts.push('Secure');
  if (cookie.httpOnly?.value) parts.push('HttpOnly');
  // 'none' is the proto default meaning "not set"; 'explicitNone' is SameSite=None.
  if (cookie.sameSite === 'lax') parts.push('SameSite=Lax');
  else if (cookie.sameSite === 'strict') parts.push('SameSite=Strict');
  else if (cookie.sameSite === 'explicitNone') parts.push('SameSite=None');
  return parts.join('; ');
}

/** Writes the function's RpcHttpData response; no response at all becomes 204, as the host answers. */
export function writeRpcHttpResponse(res: ServerResponse, data: RpcHttpData | undefined): void {
  if (!data) {
    res.writeHead(204).end();
    return;
  }
  const status = Number(data.statusCode ?? '200') || 200;
  for (const [name, value] of Object.entries(data.headers ?? {})) res.setHeader(name, value);
  const cookies = (data.cookies ?? []).map(toSetCookieHeader);
  if (cookies.length > 0) res.setHeader('set-cookie', cookies);
  const bytes =
    data.body?.bytes ??
    (data.body?.string !== undefined && data.body.string !== null
      ? Buffer.from(data.body.string)
      : undefined);
  res.statusCode = status;
  // 204/304 and HEAD responses carry no body.
  if (!bytes || status === 204 || status === 304) res.end();
  else res.end(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
}
