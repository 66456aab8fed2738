import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { type RunningHost, startHost } from '../../../dev/host/startHost';
import { captureLogs, hostFixtures } from './helpers';

describe('local host HTTP triggers', () => {
  let running: RunningHost;
  let api: string;
  const logs = captureLogs();
  const durableCalls: Array<{ taskHubName: string; baseUrl: string }> = [];

  beforeAll(async () => {
    running = await startHost({
      appDir: path.join(hostFixtures, 'basic'),
      port: 0,
      logger: logs.logger,
      env: { AzureWebJobsStorage: 'UseDevelopmentStorage=true' },
      // The basic app has activity functions and a durableClient input: a stand-in backend supplies the inputs.
      startDurableBackend: ({ host, taskHubName, baseUrl }) => {
        durableCalls.push({ taskHubName, baseUrl });
        host.registerInputProvider('durableClient', (fn, name) => ({
          taskHubName,
          for: `${fn.name}/${name}`,
        }));
        host.registerInputProvider('testThing', () => 'thing');
        return Promise.resolve({
          rpcBaseUrl: `${baseUrl}/runtime/webhooks/durabletask`,
          webhookPath: '/runtime/webhooks/durabletask',
          handleWebhook: (req, res) => {
            res.writeHead(200, { 'content-type': 'text/plain' }).end(`webhook ${req.method} ${req.url}`);
            return Promise.resolve();
          },
          stop: () => Promise.resolve(),
        });
      },
    });
    api = `${running.url}/api`;
  });

  afterAll(async () => {
    await running?.stop();
  });

  it('starts the Durable backend with the hub name and public base URL when the app uses Durable', () => {
    expect(durableCalls).toEqual([{ taskHubName: 'BasicHub', baseUrl: running.url }]);
    expect(running.durableRpcBaseUrl).toBe(`${running.url}/runtime/webhooks/durabletask`);
  });

  it('hands the Durable webhook paths to the backend before any function route', async () => {
    const res = await fetch(`${running.url}/runtime/webhooks/durabletask/instances/abc?x=1`);
    expect(await res.text()).toBe('webhook GET /runtime/webhooks/durabletask/instances/abc?x=1');
  });

  it('passes route parameters, query, headers and URL when a GET matches a template', async () => {
    const res = await fetch(`${api}/hello/World%20Wide?x=1&x=2&empty=`, {
      headers: { 'x-test-header': 'h1' },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(await res.json()).toEqual({
      method: 'GET',
      url: `${api}/hello/World%20Wide?x=1&x=2&empty=`,
      params: { name: 'World Wide' },
      query: { x: '1,2', empty: '' },
      header: 'h1',
      body: '',
    });
  });

  it('matches an optional parameter when it is absent', async () => {
    const res = await fetch(`${api}/hello`);
    expect(((await res.json()) as { params: unknown }).params).toEqual({});
  });

  it('delivers a text body when the method is POST', async () => {
    const res = await fetch(`${api}/hello/bob`, { method: 'POST', body: 'plain text ✓' });
    expect(await res.json()).toMatchObject({ method: 'POST', body: 'plain text ✓' });
  });

  it('applies int constraints so that a non-number is a 404', async () => {
    expect(await (await fetch(`${api}/items/42`)).json()).toEqual({ id: '42', method: 'GET' });
    const bad = await fetch(`${api}/items/abc`);
    expect(bad.status).toBe(404);
  });

  it('answers 405 with Allow when the route matches but the method does not', async () => {
    const res = await fetch(`${api}/items/42`, { method: 'POST' });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET, DELETE');
  });

  it('answers 404 for unknown routes and paths outside the route prefix', async () => {
    expect((await fetch(`${api}/no/such/route`)).status).toBe(404);
    expect((await fetch(`${running.url}/hello/bob`)).status).toBe(404);
  });

  it('parses JSON bodies and returns status, headers and jsonBody', async () => {
    const res = await fetch(`${api}/echo/json`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ a: [1, 'two'] }),
    });
    expect(res.status).toBe(201);
    expect(res.headers.get('x-custom')).toBe('yes');
    expect(await res.json()).toEqual({ received: { a: [1, 'two'] } });
  });

  it('round-trips binary bodies byte for byte', async () => {
    const bytes = Buffer.from([0, 255, 1, 128, 10, 13, 0]);
    const res = await fetch(`${api}/echo/binary`, { method: 'POST', body: bytes });
    expect(res.headers.get('x-length')).toBe('7');
    expect(Buffer.from(await res.arrayBuffer())).toEqual(Buffer.from([...bytes].reverse()));
  });

  it('sets cookies and the status of an HttpResponse', async () => {
    const res = await fetch(`${api}/cookies`);
    expect(res.status).toBe(202);
    expect(await res.text()).toBe('with cookies');
    expect(res.headers.getSetCookie()).toEqual([
      'session=abc; Path=/; HttpOnly; SameSite=Lax',
      'theme=dark; Max-Age=60',
    ]);
  });

  it('reads a streamed response body to the end', async () => {
    const res = await fetch(`${api}/stream`);
    expect(await res.text()).toBe('chunk1,chunk2');
  });

  it('captures the rest of the path in a catch-all parameter', async () => {
    const res = await fetch(`${api}/files/a/b/c.txt`);
    expect(await res.json()).toEqual({ rest: 'a/b/c.txt' });
  });

  it('answers 500 without the error details when the function throws', async () => {
    const res = await fetch(`${api}/throws`);
    expect(res.status).toBe(500);
    const text = await res.text();
    expect(text).not.toContain('secret internal detail');
    expect(text).not.toContain('at ');
    expect(
      logs.entries.some((e) => e.functionName === 'throws' && e.message.includes('secret internal detail')),
    ).toBe(true);
  });

  it('answers 204 when the function returns nothing', async () => {
    const res = await fetch(`${api}/nothing`);
    expect(res.status).toBe(204);
  });

  it('uses the function name as the route and the library default methods GET and POST', async () => {
    const res = await fetch(`${api}/defaultRoute`, { method: 'POST', body: 'x' });
    expect(await res.text()).toBe('default route POST');
    const patch = await fetch(`${api}/defaultRoute`, { method: 'PATCH', body: 'x' });
    expect(patch.status).toBe(405);
    expect(patch.headers.get('allow')).toBe('GET, POST');
  });

  it('does not enforce function keys, like Core Tools', async () => {
    expect((await fetch(`${api}/items/1`)).status).toBe(200);
    expect(logs.entries.some((e) => e.message.includes('keys are not enforced'))).toBe(true);
  });

  it('gives HTTP functions their extra inputs from the registered provider', async () => {
    const res = await fetch(`${api}/client`);
    expect(await res.json()).toEqual({ starter: { taskHubName: 'BasicHub', for: 'withClient/starter' } });
  });

  it('logs context.log lines with the function name and invocation id', async () => {
    await fetch(`${api}/hello/logger`);
    const line = logs.entries.find((e) => e.message === 'hello called for logger');
    expect(line).toMatchObject({ category: 'user', functionName: 'hello' });
    expect(line?.invocationId).toMatch(/^[0-9a-f-]{36}$/);
  });
});
