import { z } from 'zod';
import { ERROR_CATALOGUE, type ErrorCode } from '../../app/errors.js';

/** What GET /docs shows of one action: its request and answer schemas and a summary. */
export interface ActionDoc {
  /** The zod schema the action parses its body with. */
  request: z.ZodType;
  /** Its 200 answer (src/api/schemas/response.ts). */
  response: z.ZodType;
  summary: string;
  /**
   * Request fields naming an id whose absence is a 404.
   * @default those of InvokeId and CommandId the request has
   */
  notFoundFields?: readonly string[];
  /** Codes of CODE_FIELDS this action answers whatever its fields (Activation.InUse). */
  errors?: readonly ErrorCode[];
  /**
   * Called without a bearer token (RegisterNode: the activation is the credential): documented
   * with no security requirement and without the token's errors.
   */
  public?: true;
}

/** The errors of the bearer token, which a public route never answers. */
const TOKEN_CODES: readonly ErrorCode[] = ['InvalidToken', 'Forbidden.Role'];

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

/** An answer as the API sends it: zod's output side. */
function responseSchema(schema: z.ZodType): JsonObject {
  const json = z.toJSONSchema(schema, { io: 'output' }) as JsonObject;
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

/**
 * Error codes only some actions can answer, with the request fields that make them possible:
 * an action is documented with such a code only if its request has one of those fields.
 * Every other code (bad input, auth, size, Redis) can answer any action.
 */
const CODE_FIELDS: Partial<Record<ErrorCode, readonly string[]>> = {
  IdempotentParameterMismatch: ['ClientToken'],
  'InvalidNodeId.NotFound': ['NodeIdList', 'ResourceTag', 'ResourceId'],
  'InvalidParameter.ResourceTag': ['ResourceTag'],
  // TagResources only (ListTagResources and DescribeNodes take a Tag filter, never refused so).
  InvalidTagCount: ['Tag'],
  'InvalidParameter.Frequency': ['Frequency'],
  'InvalidParameter.MaxConcurrency': ['MaxConcurrency'],
  'InvalidParameter.MaxErrors': ['MaxErrors'],
  'InvalidParameter.Status': ['Status'],
  'InvalidCommandContent.Malformed': ['CommandContent'],
  // InvokeCommand's content can outgrow the limit once its Parameters are substituted.
  'InvalidCommandContent.LengthLimitExceeded': ['CommandContent', 'Parameters'],
  'InvalidFileContent.Malformed': ['Content'],
  'InvalidFileContent.LengthLimitExceeded': ['Content'],
  // An action that exists is never answered with an unknown action.
  'InvalidAction.NotFound': [],
  // The RPC protocol's own codes: never answered on /v1.
  IncompleteSignature: [],
  SignatureDoesNotMatch: [],
  'InvalidAccessKeyId.NotFound': [],
  'InvalidTimeStamp.Format': [],
  'InvalidTimeStamp.Expired': [],
  SignatureNonceUsed: [],
  InvalidVersion: [],
  // Answered before any route: not an action's answer.
  RequestHeaderTooLarge: [],
  // RegisterNode's (its own route, listed in its ActionDoc.errors).
  'InvalidActivationCode.Mismatch': [],
  'Activation.Expired': [],
  'Activation.Disabled': [],
  'Activation.InstanceCountExceeded': [],
  'Activation.IpAddressNotAllowed': [],
  'InvalidNodeId.Taken': [],
  // DeleteActivation's (ActionDoc.errors).
  'Activation.InUse': [],
  // CreateWebhook's (ActionDoc.errors).
  'Webhook.LimitExceeded': [],
};

const NOT_FOUND_CODES: Partial<Record<string, ErrorCode>> = {
  InvokeId: 'InvalidInvokeId.NotFound',
  CommandId: 'InvalidCommandId.NotFound',
  ActivationId: 'InvalidActivationId.NotFound',
  WebhookId: 'InvalidWebhookId.NotFound',
};

/** The error codes one action can answer, by HTTP status, derived from its request fields. */
function actionErrors(doc: ActionDoc, fields: readonly string[]): Map<number, ErrorCode[]> {
  const notFound = (doc.notFoundFields ?? fields).flatMap((f) => NOT_FOUND_CODES[f] ?? []);
  const out = new Map<number, ErrorCode[]>();
  for (const [status, codes] of codesByStatus()) {
    const possible = codes.filter((code) => {
      if (doc.public === true && TOKEN_CODES.includes(code)) return false;
      if (Object.values(NOT_FOUND_CODES).includes(code)) return notFound.includes(code);
      const needs = CODE_FIELDS[code];
      if (doc.errors?.includes(code)) return true;
      return needs === undefined || needs.some((f) => fields.includes(f));
    });
    if (possible.length > 0) out.set(status, possible);
  }
  return out;
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

/** GET /v1/events: the lifecycle events as server-sent events (docs/events.md). */
function eventsPath(): JsonObject {
  const query = (name: string, description: string) => ({
    name,
    in: 'query',
    required: false,
    schema: { type: 'string' },
    description,
  });
  return {
    get: {
      operationId: 'Events',
      summary:
        'The lifecycle events as server-sent events: `id: <EventId>`, `event: <EventType>`, `data: {"EventId","EventType","Time","Data"}`; `: ping` comments every 15 s',
      parameters: [
        {
          name: 'Last-Event-ID',
          in: 'header',
          required: false,
          schema: { type: 'string' },
          description: 'resume after this EventId (takes precedence over `after`)',
        },
        query('after', 'resume after this EventId; `0`: from the oldest event held'),
        query('type', 'only these event types, comma-separated'),
        query('InvokeId', "only this invocation's events"),
        query('follow', '`false`: send the events held and end the stream'),
      ],
      responses: {
        '200': { description: 'The event stream', content: { 'text/event-stream': {} } },
        '400': { $ref: '#/components/responses/Error400' },
        '401': { $ref: '#/components/responses/Error401' },
        '503': { $ref: '#/components/responses/Error503' },
      },
    },
  };
}

/**
 * The OpenAPI 3.1 document of the API: one `POST /v1/{Action}` per entry of `actions` and of
 * `routes` (the /v1 routes outside the action registry, such as RegisterNode), with its request
 * body and 200 answer schemas generated from zod schemas, and the error answers it can give.
 * `components.responses` holds the whole error catalogue by HTTP status.
 */
export function buildOpenApi(
  registry: Readonly<Record<string, ActionDoc>>,
  version: string,
  routes: Readonly<Record<string, ActionDoc>> = {},
) {
  const actions = { ...registry, ...routes };
  const responses: JsonObject = {};
  for (const [status, codes] of codesByStatus()) {
    responses[`Error${status}`] = errorResponse(codes);
  }
  const schemas: JsonObject = {};
  const paths: JsonObject = {};
  for (const name of Object.keys(actions).sort()) {
    const doc = actions[name] as ActionDoc;
    const body = requestSchema(doc.request);
    schemas[`${name}Request`] = body;
    schemas[`${name}Response`] = responseSchema(doc.response);
    const fields = Object.keys((body.properties ?? {}) as JsonObject);
    const errors: JsonObject = {};
    for (const [status, codes] of actionErrors(doc, fields)) {
      errors[String(status)] = errorResponse(codes);
    }
    const required = Array.isArray(body.required) && body.required.length > 0;
    paths[`/v1/${name}`] = {
      post: {
        operationId: name,
        summary: doc.summary,
        ...(doc.public === true ? { security: [] } : {}),
        requestBody: {
          required,
          content: {
            'application/json': { schema: { $ref: `#/components/schemas/${name}Request` } },
          },
        },
        responses: {
          '200': {
            description: 'Done',
            content: {
              'application/json': { schema: { $ref: `#/components/schemas/${name}Response` } },
            },
          },
          ...errors,
        },
      },
    };
  }
  paths['/v1/events'] = eventsPath();
  paths['/healthz'] = publicGet('The process is alive', 'application/json');
  paths['/readyz'] = publicGet(
    "Redis is reachable and accepts the server's credentials (else 503 naming why)",
    'application/json',
  );
  paths['/metrics'] = publicGet('Prometheus metrics (else 503)', 'text/plain');
  paths['/docs'] = publicGet('This document', 'application/json');
  paths['/docs/openapi.json'] = publicGet('This document', 'application/json');
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
