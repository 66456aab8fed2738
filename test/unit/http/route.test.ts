import { describe, expect, it } from 'vitest';
import { z } from 'zod';

import { buildOpenApiDocument } from '../../../shared/http/openapi';
import { encodeClientPrincipal } from '../../../shared/http/principal';
import {
  createFallbackHandler,
  createHttpHandler,
  defineRoute,
  matchTemplate,
  openApiPath,
  type RouteDefinition,
} from '../../../shared/http/route';
import { capturingContext, request } from './helpers';

interface Services {
  seen: unknown[];
}
const route = defineRoute<Services>();

const echo = route({
  name: 'echo',
  method: 'POST',
  route: 'things/{id:guid}',
  summary: 'Echoes its input',
  tag: 'things',
  roles: ['Admin'],
  params: z.strictObject({ id: z.uuid() }),
  query: z.strictObject({ flag: z.enum(['true', 'false']).optional() }),
  body: z.strictObject({ apiKey: z.string(), n: z.number() }),
  response: { status: 201, description: 'Echoed', schema: z.object({ id: z.string() }) },
  handler({ params, body, services, principal }) {
    services.seen.push(body);
    if (body.n === 13) throw new Error(`unlucky ${body.apiKey}`);
    return Promise.resolve({ body: { id: params.id, by: principal.id }, etag: 'W/"1"' });
  },
});
const list = route({
  name: 'list',
  method: 'GET',
  route: 'things',
  summary: 'Lists',
  tag: 'things',
  roles: ['Admin', 'Contributor'],
  response: { status: 200, description: 'The things' },
  handler: () => Promise.resolve({ body: { items: [], next: null } }),
});
const routes: RouteDefinition<Services>[] = [echo, list];
const id = '6f1c0b9e-6f2b-4e4a-9a43-2c3d4e5f6a7b';
const admin = { 'x-ms-client-principal': encodeClientPrincipal({ id: 'a1', roles: ['Admin'] }) };
const json = { 'content-type': 'application/json' };

function handlerFor(def: RouteDefinition<Services>, localDevMode = false) {
  const services: Services = { seen: [] };
  return {
    services,
    handle: createHttpHandler(def, { services: () => services, localDevMode: () => localDevMode }),
  };
}

describe('createHttpHandler', () => {
  it('calls the handler with parsed input and answers its status, body and ETag when the input is valid', async () => {
    const { handle, services } = handlerFor(echo);
    const { context } = capturingContext();
    const response = await handle(
      request({
        method: 'POST',
        url: `http://127.0.0.1/api/things/${id}`,
        params: { id },
        body: '{"apiKey":"k","n":1}',
        headers: { ...admin, ...json },
      }),
      context,
    );
    expect(response.status).toBe(201);
    expect(response.headers).toMatchObject({ etag: 'W/"1"', 'content-type': 'application/json' });
    expect(response.jsonBody).toEqual({ id, by: 'a1' });
    expect(services.seen).toEqual([{ apiKey: 'k', n: 1 }]);
  });

  it('answers 401 without a principal and 403 with the wrong role, before reading the body', async () => {
    const { handle, services } = handlerFor(echo);
    const { context } = capturingContext();
    const anonymous = await handle(
      request({ method: 'POST', params: { id }, body: '{}', headers: json }),
      context,
    );
    expect(anonymous.status).toBe(401);
    const contributor = {
      'x-ms-client-principal': encodeClientPrincipal({ id: 'c', roles: ['Contributor'] }),
    };
    const wrongRole = await handle(
      request({ method: 'POST', params: { id }, body: '{}', headers: { ...contributor, ...json } }),
      context,
    );
    expect(wrongRole.status).toBe(403);
    expect(services.seen).toEqual([]);
  });

  it('answers 400 naming the field for a bad path parameter, unknown query and missing body', async () => {
    const { handle } = handlerFor(echo);
    const { context } = capturingContext();
    const badId = await handle(
      request({
        method: 'POST',
        params: { id: '../etc' },
        body: '{"apiKey":"k","n":1}',
        headers: { ...admin, ...json },
      }),
      context,
    );
    expect(badId.status).toBe(400);
    expect(JSON.stringify(badId.jsonBody)).toContain('path.id');
    const badQuery = await handle(
      request({
        method: 'POST',
        url: 'http://127.0.0.1/api/x?nope=1',
        params: { id },
        body: '{"apiKey":"k","n":1}',
        headers: { ...admin, ...json },
      }),
      context,
    );
    expect(JSON.stringify(badQuery.jsonBody)).toContain('query.nope');
    const noBody = await handle(request({ method: 'POST', params: { id }, headers: admin }), context);
    expect(noBody.status).toBe(400);
  });

  it('answers 500 generically and logs the error with body secrets redacted when the handler throws', async () => {
    const { handle } = handlerFor(echo);
    const { context, lines } = capturingContext();
    const response = await handle(
      request({
        method: 'POST',
        params: { id },
        body: '{"apiKey":"super-secret-key","n":13}',
        headers: { ...admin, ...json },
      }),
      context,
    );
    expect(response.status).toBe(500);
    expect(JSON.stringify(response.jsonBody)).not.toContain('super-secret-key');
    expect(lines.join('\n')).toContain('unlucky [redacted]');
    expect(lines.join('\n')).not.toContain('super-secret-key');
  });

  it('refuses a body on a route that takes none', async () => {
    // GET requests cannot carry a body through fetch's Request, so a DELETE route stands in.
    const { handle } = handlerFor({ ...list, method: 'DELETE' }, true);
    const { context } = capturingContext();
    const response = await handle(request({ method: 'DELETE', body: '{}', headers: json }), context);
    expect(response.status).toBe(400);
  });
});

describe('createFallbackHandler', () => {
  const fallback = createFallbackHandler(routes);
  const { context } = capturingContext();

  it('answers a JSON 404 for an unknown path', () => {
    const response = fallback(request({ url: 'http://127.0.0.1/api/nothing/here' }), context);
    expect(response.status).toBe(404);
    expect(response.jsonBody).toMatchObject({ error: { code: 'not_found' } });
  });

  it('answers a JSON 405 with Allow for a known path and another method', () => {
    const response = fallback(request({ method: 'DELETE', url: 'http://127.0.0.1/api/things' }), context);
    expect(response.status).toBe(405);
    expect(response.headers).toMatchObject({ allow: 'GET' });
  });

  it("answers the route's own 400 when a path parameter broke the route's constraint", () => {
    const response = fallback(
      request({ method: 'POST', url: 'http://127.0.0.1/api/things/not-a-uuid' }),
      context,
    );
    expect(response.status).toBe(400);
    expect(JSON.stringify(response.jsonBody)).toContain('path.id');
  });
});

describe('route templates', () => {
  it('match paths ignoring constraints and render as OpenAPI paths', () => {
    expect(matchTemplate('things/{id:guid}/verify', 'Things/abc/verify')).toEqual({ id: 'abc' });
    expect(matchTemplate('things/{id:guid}', 'things/abc/verify')).toBeUndefined();
    expect(openApiPath('things/{id:guid}/verify')).toBe('/api/things/{id}/verify');
  });
});

describe('buildOpenApiDocument', () => {
  it('documents every route with its parameters, body, response and error schemas', () => {
    const doc = buildOpenApiDocument(routes, { title: 't', version: '1' }) as {
      openapi: string;
      paths: Record<
        string,
        Record<
          string,
          {
            parameters: Array<{ name: string; in: string }>;
            requestBody?: unknown;
            responses: Record<string, unknown>;
          }
        >
      >;
    };
    expect(doc.openapi).toBe('3.1.0');
    const post = doc.paths['/api/things/{id}']!.post!;
    expect(post.parameters.map((p) => `${p.in}:${p.name}`)).toEqual(['path:id', 'query:flag']);
    expect(post.requestBody).toMatchObject({
      content: {
        'application/json': {
          schema: { type: 'object', required: ['apiKey', 'n'], additionalProperties: false },
        },
      },
    });
    expect(Object.keys(post.responses)).toEqual(['201', '400', '401', '403', '413', '415']);
    expect(doc.paths['/api/things']!.get).toBeDefined();
  });
});
