import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';

import { checkHealth } from '../shared/health';

/** GET /api/health: liveness plus whether the configuration parses (names bad settings, never values). */
export function health(_request: HttpRequest, _context: InvocationContext): HttpResponseInit {
  const report = checkHealth();
  return { status: report.ok ? 200 : 503, jsonBody: report };
}

app.http('health', { methods: ['GET'], authLevel: 'anonymous', route: 'health', handler: health });
