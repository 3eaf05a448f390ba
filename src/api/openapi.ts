import { z } from 'zod';
import { ERROR_CATALOGUE, type ErrorCode } from '../errors.js';

/** What GET /docs shows of one action: its request schema and a one-line summary. */
export interface ActionDoc {
  /** The zod schema the action parses its body with. */
  schema: z.ZodType;
  summary: string;
}

type JsonObject = Record<string, unknown>;

/**
 * The request as a client sends it: zod's input side, where a field with a default is optional.
 * Checks JSON Schema cannot state (refinements such as "no duplicate node ids") are left out;
 * the API still enforces them.
 */
function requestSchema(schema: z.ZodType): JsonObject {
  const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as JsonObject;
  // OpenAPI 3.1's dialect is implied; a `$schema` per body would only repeat it.
  delete json.$schema;
  return json;
}

/** Error codes by HTTP status, from the catalogue. */
function codesByStatus(): Map<number, ErrorCode[]> {
  const out = new Map<number, ErrorCode[]>();
  for (const [code, { status }] of Object.entries(ERROR_CATALOGUE) as [
    ErrorCode,
    { status: number },
  ][]) {
    out.set(status, [...(out.get(status) ?? []), code]);
  }
  return new Map([...out.entries()].sort(([a], [b]) => a - b));
}

function errorResponse(codes: readonly ErrorCode[]): JsonObject {
  return {
    description: codes.map((c) => `\`${c}\`: ${ERROR_CATALOGUE[c].meaning}`).join('\n\n'),
    content: {
      'application/json': {
        schema: {
          type: 'object',
          required: ['RequestId', 'Code', 'Message'],
          properties: {
            RequestId: { type: 'string' },
            Code: { type: 'string', enum: codes },
            Message: { type: 'string' },
          },
        },
      },
    },
  };
}

/** A public GET endpoint (no bearer token). */
function publicGet(summary: string, contentType: string): JsonObject {
  return {
    get: {
      summary,
      security: [],
      responses: { '200': { description: 'OK', content: { [contentType]: {} } } },
    },
  };
}

/**
 * The OpenAPI 3.1 document of the API: one `POST /v1/{Action}` per entry of `actions`, with its
 * request body schema generated from the zod schema, a 200 answer carrying `RequestId`, and the
 * error answers of ERROR_CATALOGUE by HTTP status.
 */
export function buildOpenApi(actions: Readonly<Record<string, ActionDoc>>, version: string) {
  const byStatus = codesByStatus();
  const responses: JsonObject = {};
  const errorRefs: JsonObject = {};
  for (const [status, codes] of byStatus) {
    responses[`Error${status}`] = errorResponse(codes);
    errorRefs[String(status)] = { $ref: `#/components/responses/Error${status}` };
  }
  const schemas: JsonObject = {};
  const paths: JsonObject = {};
  for (const name of Object.keys(actions).sort()) {
    const doc = actions[name] as ActionDoc;
    const body = requestSchema(doc.schema);
    schemas[`${name}Request`] = body;
    const required = Array.isArray(body.required) && body.required.length > 0;
    paths[`/v1/${name}`] = {
      post: {
        operationId: name,
        summary: doc.summary,
        requestBody: {
          required,
          content: {
            'application/json': { schema: { $ref: `#/components/schemas/${name}Request` } },
          },
        },
        responses: {
          '200': {
            description: 'Done; the answer carries RequestId and the action’s fields.',
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  required: ['RequestId'],
                  properties: { RequestId: { type: 'string' } },
                  additionalProperties: true,
                },
              },
            },
          },
          ...errorRefs,
        },
      },
    };
  }
  paths['/healthz'] = publicGet('The process is alive', 'application/json');
  paths['/readyz'] = publicGet('Redis is reachable (else 503)', 'application/json');
  paths['/metrics'] = publicGet('Prometheus metrics (else 503)', 'text/plain');
  paths['/docs'] = publicGet('This document', 'application/json');
  return {
    openapi: '3.1.0',
    info: {
      title: 'fleetcmd API',
      version,
      description:
        'Run shell commands on a fleet of nodes. Every action is `POST /v1/{Action}` with a JSON body and `Authorization: Bearer <token>`.',
    },
    security: [{ bearerAuth: [] }],
    paths,
    components: {
      securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer' } },
      schemas,
      responses,
    },
  };
}
