/** The HTTP boundary every route uses: principals, roles, bodies, validation, errors, ETags, lists, OpenAPI. */
export * from './authorization';
export * from './body';
export * from './errorResponse';
export * from './etag';
export * from './list';
export * from './openapi';
export * from './principal';
export * from './route';
export * from './validation';
