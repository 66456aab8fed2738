/**
 * `GET /api/me`: who the caller is, as the API sees them. The admin page reads it to show an admin's or a
 * contributor's view (the API enforces the same rules on every route; the page only hides what would fail).
 */
import { z } from 'zod';

import { ROLES } from '../http/principal';
import { type ApiRoute, apiRoute } from './route';

/** The caller: id, display name, app roles, and whether this is the local development admin. */
export const Me = z.object({
  id: z.string(),
  name: z.string(),
  roles: z.array(z.enum(ROLES)),
  local: z.boolean(),
});
export type Me = z.infer<typeof Me>;

export const meRoutes: ApiRoute[] = [
  apiRoute({
    name: 'me-get',
    method: 'GET',
    route: 'me',
    tag: 'identity',
    summary: 'Who the caller is: id, name and app roles (for the admin page)',
    roles: ['Admin', 'Contributor'],
    response: { status: 200, description: 'The caller', schema: Me },
    handler({ principal }) {
      return Promise.resolve({
        body: { id: principal.id, name: principal.name, roles: [...principal.roles], local: principal.local },
      });
    },
  }),
];
