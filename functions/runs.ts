import { app } from '@azure/functions';

import { runRoutes, type RunRouteServices } from '../shared/api/runRoutes';
import { getConfig } from '../shared/config';
import { createHttpHandler } from '../shared/http';
import { runDepsFromConfig } from '../shared/run/deps';

const options = {
  services: (): RunRouteServices => ({ run: runDepsFromConfig(getConfig()) }),
  localDevMode: () => getConfig().LOCAL_DEV_MODE,
};

for (const route of runRoutes) {
  app.http(route.name, {
    methods: [route.method],
    route: route.route,
    authLevel: 'anonymous',
    ...(route.extraInputs ? { extraInputs: route.extraInputs } : {}),
    handler: createHttpHandler(route, options),
  });
}
