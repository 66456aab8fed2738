/**
 * The OpenAPI 3.1 document of the HTTP API, generated from the route definitions and their zod schemas
 * with zod 4's `z.toJSONSchema` (JSON Schema 2020-12, the dialect OpenAPI 3.1 uses:
 * https://spec.openapis.org/oas/v3.1.0#schema-object). Request schemas are rendered as input (defaults
 * optional), responses as output.
 */
import { z } from 'zod';

import { ErrorBody } from './errorResponse';
import { openApiPath, type RouteDefinition } from './route';

type JsonSchema = Record<string, unknown>;

const ERROR_REF = { $ref: '#/components/schemas/Error' };
const STATUS_TEXT: Record<number, string> = {
  400: 'Invalid input: details name each field',
  401: 'No principal (sign in through App Service Authentication)',
  403: 'The caller lacks the role or the connection is not shared with contributors',
  404: 'Not found',
  405: 'Method not allowed on this path',
  409: 'Conflict: the id is taken or the record is in use',
  412: 'If-Match does not match the stored ETag',
  413: 'Body larger than 64 KiB',
  415: 'Body is not application/json',
  422: 'ActiveCampaign refused: verification of the key, host, list or segments failed',
  503: 'A dependency (Key Vault, storage, ActiveCampaign) is unavailable',
};

function toSchema(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const json = z.toJSONSchema(schema, { io, unrepresentable: 'any', target: 'draft-2020-12' }) as JsonSchema;
  delete json.$schema;
  return json;
}

function parametersOf(schema: z.ZodType | undefined, where: 'path' | 'query'): JsonSchema[] {
  if (!schema) return [];
  const json = toSchema(schema, 'input');
  const properties = (json.properties ?? {}) as Record<string, JsonSchema>;
  const required = new Set((json.required ?? []) as string[]);
  return Object.entries(properties).map(([name, property]) => ({
    name,
    in: where,
    required: where === 'path' || required.has(name),
    schema: property,
    ...(typeof property.description === 'string' ? { description: property.description } : {}),
  }));
}

/** The OpenAPI 3.1 document for `routes`. */
export function buildOpenApiDocument<S>(
  routes: readonly RouteDefinition<S>[],
  info: { title: string; version: string; description?: string },
): JsonSchema {
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const route of routes) {
    const path = openApiPath(route.route);
    const responses: Record<string, JsonSchema> = {
      [String(route.response.status)]: {
        description: route.response.description,
        ...(route.response.schema
          ? { content: { 'application/json': { schema: toSchema(route.response.schema, 'output') } } }
          : {}),
      },
    };
    const errorStatuses = new Set<number>([
      400,
      ...(route.roles === 'public' ? [] : [401, 403]),
      ...(route.body ? [413, 415] : []),
      ...(route.errors ?? []),
    ]);
    for (const status of [...errorStatuses].sort((a, b) => a - b)) {
      responses[String(status)] = {
        description: STATUS_TEXT[status] ?? 'Error',
        content: { 'application/json': { schema: ERROR_REF } },
      };
    }
    const operation: JsonSchema = {
      operationId: route.name,
      summary: route.summary,
      ...(route.description ? { description: route.description } : {}),
      tags: [route.tag],
      ...(route.roles === 'public'
        ? { security: [] }
        : { 'x-roles': [...route.roles], security: [{ appServiceAuthentication: [] }] }),
      parameters: [
        ...parametersOf(route.params, 'path'),
        ...parametersOf(route.query, 'query'),
        ...(route.method === 'PATCH' || route.method === 'DELETE'
          ? [
              {
                name: 'If-Match',
                in: 'header',
                required: false,
                description: 'The ETag of the record as read; 412 when it changed since',
                schema: { type: 'string' },
              },
            ]
          : []),
      ],
      ...(route.body
        ? {
            requestBody: {
              required: true,
              content: { 'application/json': { schema: toSchema(route.body, 'input') } },
            },
          }
        : {}),
      responses,
    };
    (paths[path] ??= {})[route.method.toLowerCase()] = operation;
  }
  return {
    openapi: '3.1.0',
    info,
    servers: [{ url: '/' }],
    paths,
    components: {
      schemas: { Error: toSchema(ErrorBody, 'output') },
      securitySchemes: {
        appServiceAuthentication: {
          type: 'apiKey',
          in: 'header',
          name: 'x-ms-client-principal',
          description:
            'Set by App Service Authentication (base64 JSON client principal with app roles Admin or Contributor); ' +
            'in local development mode a loopback request without it acts as a local admin',
        },
      },
    },
  };
}
