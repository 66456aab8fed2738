/** Builders for unit tests of the HTTP layer: real `HttpRequest`s and a capturing invocation context. */
import { HttpRequest, InvocationContext } from '@azure/functions';

/** A request as the Functions runtime would build it. */
export function request(
  init: {
    method?: string;
    url?: string;
    body?: string | Uint8Array;
    headers?: Record<string, string>;
    params?: Record<string, string>;
  } = {},
): HttpRequest {
  const url = init.url ?? 'http://127.0.0.1:7071/api/things';
  return new HttpRequest({
    method: init.method ?? 'GET',
    url,
    headers: init.headers ?? {},
    params: init.params ?? {},
    query: Object.fromEntries(new URL(url).searchParams),
    ...(init.body === undefined
      ? {}
      : { body: typeof init.body === 'string' ? { string: init.body } : { bytes: init.body } }),
  });
}

/** An invocation context whose log lines are kept. */
export function capturingContext(): { context: InvocationContext; lines: string[] } {
  const lines: string[] = [];
  const keep = (...args: unknown[]) => lines.push(args.map(String).join(' '));
  const context = new InvocationContext({
    invocationId: 'test',
    functionName: 'test',
    logHandler: (_level, ...args) => keep(...args),
  });
  return { context, lines };
}
