/** HTTP helpers of the sandbox: JSON answers, bodies with their true size, sliding windows. */
import type http from 'node:http';

/** Bodies are kept up to this size (their size is counted in full). */
const MAX_BODY_BYTES = 5_000_000;

/** Sends `payload` as JSON (a string as HTML, as ActiveCampaign's error pages are). */
export function send(
  res: http.ServerResponse,
  status: number,
  payload: unknown,
  headers: Record<string, string> = {},
): void {
  const text = typeof payload === 'string' ? payload : JSON.stringify(payload);
  res.writeHead(status, {
    'Content-Type': typeof payload === 'string' ? 'text/html' : 'application/json',
    'Content-Length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

/** The body as UTF-8 text plus its true size in bytes (counted in full even past the kept 5 MB). */
export async function readBody(req: http.IncomingMessage): Promise<{ text: string; byteLength: number }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.byteLength;
    if (size <= MAX_BODY_BYTES) chunks.push(chunk);
  }
  return { text: Buffer.concat(chunks).toString('utf8'), byteLength: size };
}

/** The parsed JSON, or undefined when the text is not JSON. */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** The first value of a header. */
export function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** The account's window (a sorted list of arrival times), created empty. */
export function window(windows: Map<string, number[]>, account: string): number[] {
  let list = windows.get(account);
  if (!list) windows.set(account, (list = []));
  return list;
}

/** Drops timestamps at or before `now - span`: the window is (now − span, now]. */
export function prune(list: number[], now: number, span: number): void {
  let drop = 0;
  while (drop < list.length && (list[drop] ?? 0) <= now - span) drop++;
  if (drop > 0) list.splice(0, drop);
}

/** Keeps a window sorted even when a delayed request is counted after a later one. */
export function insertSorted(list: number[], value: number): void {
  let i = list.length;
  while (i > 0 && (list[i - 1] ?? 0) > value) i--;
  list.splice(i, 0, value);
}
