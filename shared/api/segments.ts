/** `GET /api/segments`: the segments in segment storage, for the admin page's picker. */
import { type ApiRoute, apiRoute } from './route';
import { SegmentList } from './schemas';

export const segmentRoutes: ApiRoute[] = [
  apiRoute({
    name: 'segments-list',
    method: 'GET',
    route: 'segments',
    tag: 'segments',
    summary: 'List the segments found in segment storage, with their newest snapshot time and file count',
    roles: ['Admin', 'Contributor'],
    response: {
      status: 200,
      description: 'Every segment (one page: next is always null)',
      schema: SegmentList,
    },
    async handler({ services }) {
      return { body: { items: await services.segments.list(), next: null } };
    },
  }),
];
