/** `GET /api/openapi.json`: the OpenAPI 3.1 document of every route in the index, generated from their zod schemas. */
import { buildOpenApiDocument } from '../http/openapi';
import { type ApiRoute, apiRoute } from './route';

/** The document route; `routes` is read on each request so it always covers the whole index. */
export function openApiRoute(routes: () => readonly ApiRoute[]): ApiRoute {
  return apiRoute({
    name: 'openapi',
    method: 'GET',
    route: 'openapi.json',
    tag: 'meta',
    summary: 'This API as an OpenAPI 3.1 document',
    roles: 'public',
    response: { status: 200, description: 'The OpenAPI document' },
    handler: () =>
      Promise.resolve({
        body: buildOpenApiDocument(routes(), {
          title: 'Segment export to ActiveCampaign: management API',
          version: '1',
          description: 'Connections, exports and segments; see docs/http-api.md',
        }),
      }),
  });
}
