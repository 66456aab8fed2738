/** The admin page as an HTTP function: its built files (`npm run build` → `dist/ui/`) under `GET /api/ui/`. */
import path from 'node:path';

import type { HttpRequest, HttpResponseInit } from '@azure/functions';

import { createStaticFileServer } from './http/staticFiles';

/** Where the built page lives: `ui/` beside `shared/` (`dist/ui/` locally, `ui/` in the deployment zip). */
export const ADMIN_PAGE_DIR = path.resolve(__dirname, '..', 'ui');

const serve = createStaticFileServer(ADMIN_PAGE_DIR);

/** Answers one request for a file of the admin page (`index.html` for `/api/ui/`). */
export function serveAdminPage(request: HttpRequest): Promise<HttpResponseInit> {
  return serve({
    path: request.params.path,
    ifNoneMatch: request.headers.get('if-none-match'),
    urlPath: new URL(request.url).pathname,
    method: request.method,
  });
}
