import { app, type HttpRequest, type HttpResponseInit } from '@azure/functions';

import { serveAdminPage } from '../shared/adminPage';

/** GET /api/ui/{*path}: the admin page's files (index.html, the script and style bundles). */
export function adminPage(request: HttpRequest): Promise<HttpResponseInit> {
  return serveAdminPage(request);
}

app.http('ui', {
  methods: ['GET', 'HEAD'],
  authLevel: 'anonymous',
  route: 'ui/{*path}',
  handler: adminPage,
});
