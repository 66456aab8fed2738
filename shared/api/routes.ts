/**
 * The index of every management API route. `functions/api.ts` registers each one and
 * `GET /api/openapi.json` documents each one, so adding a route is adding its definition here.
 */
import { connectionRoutes } from './connections';
import { exportRoutes } from './exports';
import { meRoutes } from './me';
import { openApiRoute } from './openapi';
import type { ApiRoute } from './route';
import { runRoutes } from './runs';
import { segmentRoutes } from './segments';

/** Every route, in registration order. */
export const apiRoutes: ApiRoute[] = [
  ...connectionRoutes,
  ...exportRoutes,
  ...runRoutes,
  ...segmentRoutes,
  ...meRoutes,
];
apiRoutes.push(openApiRoute(() => apiRoutes));
