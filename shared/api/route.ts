/** The management API's route type: `shared/http` route definitions over `ApiServices`. */
import { defineRoute, type RouteDefinition } from '../http/route';
import type { ApiServices } from './services';

/** One route of the API. */
export type ApiRoute = RouteDefinition<ApiServices>;

/** Declares a route of the API (types inferred from its schemas). */
export const apiRoute = defineRoute<ApiServices>();
