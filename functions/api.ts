import { app, type HttpHandler, type HttpMethod } from '@azure/functions';

import { apiRoutes } from '../shared/api/routes';
import { getApiServices } from '../shared/api/services';
import { getConfig } from '../shared/config';
import { createFallbackHandler, createHttpHandler } from '../shared/http/route';

/** One handler per route of the management API (shared/api/routes.ts), by function name. */
export const handlers: Record<string, HttpHandler> = Object.fromEntries(
  apiRoutes.map((route) => [
    route.name,
    createHttpHandler(route, { services: getApiServices, localDevMode: () => getConfig().LOCAL_DEV_MODE }),
  ]),
);

/** JSON 404/405 for everything else under /api. */
export const apiFallback: HttpHandler = createFallbackHandler(apiRoutes);

const ALL_METHODS: HttpMethod[] = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'];

for (const route of apiRoutes) {
  app.http(route.name, {
    methods: [route.method],
    route: route.route,
    authLevel: 'anonymous',
    ...(route.extraInputs ? { extraInputs: route.extraInputs } : {}),
    handler: handlers[route.name]!,
  });
}
// The Functions host orders routes by function name, not by specificity
// (github.com/Azure/azure-functions-host/issues/9876): this catch-all's name must sort after every other.
app.http('zzz-api-fallback', {
  methods: ALL_METHODS,
  route: '{*path}',
  authLevel: 'anonymous',
  handler: apiFallback,
});
