import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import {
  DIALECT_ACTIONS,
  DIALECT_VERSIONS,
  IGNORED_FIELDS,
  renameInMessage,
  renameParam,
  toInstanceDialect,
  type DialectAction,
} from './dialects.js';
import { parseUrlEncoded, RpcParamError, unflatten, type FieldKind } from './params.js';
import { AppError } from '../../app/errors.js';
import { withSpan } from '../../shared/telemetry.js';
import type { AccessKeyStore } from '../../store/access-key-store.js';
import { ACTIONS } from '../actions/registry.js';
import type { Action, ActionDeps } from '../../app/deps.js';
import {
  describeCloudAssistantStatus,
  describeCloudAssistantStatusSchema,
} from './cloud-assistant.js';
import { claimNonce, SHA1_PROTOCOL_PARAMS, verifySignature, type SignedRequest } from './verify.js';
import type { AuditNote } from '../plugins/audit.js';

/**
 * The vendor's RPC wire protocol on `POST /` and `GET /`: parameters in the query string and/or
 * a form body, signed with ACS3-HMAC-SHA256 or HMAC-SHA1 by an access key, in the node or the
 * instance dialect, each mapped onto fleetcmd's one set of actions (src/api/actions/registry.ts).
 */

export interface RpcDeps extends ActionDeps {
  accessKeys: AccessKeyStore;
}

/** The engine's actions plus the one only the RPC protocol has. */
const RPC_ACTIONS: Readonly<Record<string, { handler: Action; request: z.ZodType }>> = {
  ...ACTIONS,
  DescribeCloudAssistantStatus: {
    handler: describeCloudAssistantStatus,
    request: describeCloudAssistantStatusSchema,
  },
};

/** Parameters that say what to call, not what to call it with. */
const ROUTING_PARAMS = new Set(['Action', 'Version', 'Format', ...SHA1_PROTOCOL_PARAMS]);

const kindCache = new Map<string, Map<string, FieldKind>>();

/** How each field of an action travels flattened, read from the action's own zod schema. */
function kindsOf(action: string, schema: z.ZodType): Map<string, FieldKind> {
  const known = kindCache.get(action);
  if (known) return known;
  const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as {
    properties?: Record<string, { type?: string }>;
  };
  const kinds = new Map<string, FieldKind>();
  for (const [field, prop] of Object.entries(json.properties ?? {})) {
    const t = prop.type;
    kinds.set(
      field,
      t === 'array'
        ? 'list'
        : t === 'object'
          ? 'map'
          : t === 'integer' || t === 'number'
            ? 'number'
            : 'text',
    );
  }
  kindCache.set(action, kinds);
  return kinds;
}

const badParam = (err: unknown): never => {
  if (err instanceof RpcParamError) throw new AppError('InvalidParameter', err.message);
  throw err;
};

function headerMap(req: FastifyRequest): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(req.headers)) {
    out[k.toLowerCase()] = Array.isArray(v) ? v.join(',') : v;
  }
  return out;
}

/** The request's parts as the signatures see them (400 for a malformed query or body). */
function signedRequest(req: FastifyRequest): SignedRequest {
  const url = req.raw.url ?? '/';
  const q = url.indexOf('?');
  const rawBody = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
  const headers = headerMap(req);
  let form: [string, string][] = [];
  try {
    const query = parseUrlEncoded(q < 0 ? '' : url.slice(q + 1), 'the query string');
    if (rawBody.length > 0) {
      const type = (headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
      if (type !== 'application/x-www-form-urlencoded') {
        throw new RpcParamError(
          'the request body must be form-encoded (Content-Type: application/x-www-form-urlencoded)',
        );
      }
      form = parseUrlEncoded(rawBody.toString('utf8'), 'the form body');
    }
    return {
      method: req.method,
      path: q < 0 ? url : url.slice(0, q),
      query,
      form,
      rawBody,
      headers,
    };
  } catch (err) {
    return badParam(err);
  }
}

/** One value per name over query and body; a name given twice is refused. */
function collect(signed: SignedRequest): Map<string, string> {
  const params = new Map<string, string>();
  for (const [k, v] of [...signed.query, ...signed.form]) {
    if (params.has(k)) throw new AppError('InvalidParameter', `${k}: is given twice`);
    params.set(k, v);
  }
  return params;
}

/** Action or version from the header or the parameter; both given must agree. */
function routing(
  params: ReadonlyMap<string, string>,
  headers: Readonly<Record<string, string | undefined>>,
  name: 'Action' | 'Version',
): string {
  const header = headers[`x-acs-${name.toLowerCase()}`];
  const param = params.get(name);
  if (header !== undefined && param !== undefined && header !== param) {
    throw new AppError(
      'InvalidParameter',
      `${name}: the x-acs-${name.toLowerCase()} header (${header}) and the ${name} parameter (${param}) differ`,
    );
  }
  const value = header ?? param;
  if (value === undefined || value === '') {
    throw new AppError(
      'MissingParameter',
      `${name} is required (the x-acs-${name.toLowerCase()} header or the ${name} parameter)`,
    );
  }
  return value;
}

/** The action's JSON body: dialect names renamed, fixed and ignored fields dropped. */
function bodyOf(
  params: ReadonlyMap<string, string>,
  target: DialectAction,
  kinds: ReadonlyMap<string, FieldKind>,
): Record<string, unknown> {
  const flat = new Map<string, string>();
  for (const [key, value] of params) {
    if (ROUTING_PARAMS.has(key) || IGNORED_FIELDS.includes(key)) continue;
    const fixed = target.fixed?.[key];
    if (fixed !== undefined) {
      if (value !== fixed) {
        throw new AppError('InvalidParameter', `${key}: only ${fixed} is supported`);
      }
      continue;
    }
    flat.set(renameParam(key, target), value);
  }
  for (const [field, value] of Object.entries(target.defaults ?? {})) {
    if (!flat.has(field)) flat.set(field, value);
  }
  try {
    return unflatten(flat, (field) => kinds.get(field) ?? 'text');
  } catch (err) {
    if (err instanceof RpcParamError) {
      throw new AppError('InvalidParameter', renameInMessage(err.message, target));
    }
    throw err;
  }
}

/**
 * Instance dialect: each invocation with the fields the SDK models and the seed has not: its
 * CommandId, its type, and whether it may still fire (Timed, true while a node's run is).
 */
async function withInstanceFields(answer: Record<string, unknown>, deps: ActionDeps) {
  type Item = Record<string, unknown> & { InvokeNodes?: { InvokeNode?: { Timed?: unknown }[] } };
  const list = (answer.Invocations as { Invocation?: Item[] } | undefined)?.Invocation;
  if (!list || list.length === 0) return answer;
  const invs = await deps.invocations.getMany(list.map((i) => String(i.InvokeId)));
  list.forEach((item, i) => {
    item.CommandId = invs[i]?.commandId ?? '';
    item.CommandType = 'RunShellScript';
    item.Timed = (item.InvokeNodes?.InvokeNode ?? []).some((n) => n.Timed === 'true');
  });
  return answer;
}

/**
 * The engine action a request names, read before its signature is checked, so that a refused
 * call is audited under the action it asked for (never trusted for anything else).
 */
function claimedAction(signed: SignedRequest): string | undefined {
  const first = (name: string) =>
    signed.headers[`x-acs-${name.toLowerCase()}`] ??
    [...signed.query, ...signed.form].find(([k]) => k === name)?.[1];
  const dialect = DIALECT_VERSIONS[first('Version') ?? ''];
  const name = first('Action') ?? '';
  const actions = dialect !== undefined ? DIALECT_ACTIONS[dialect] : {};
  return Object.hasOwn(actions, name) ? actions[name]?.action : undefined;
}

async function handle(req: FastifyRequest, deps: RpcDeps): Promise<Record<string, unknown>> {
  const signed = signedRequest(req);
  const note: AuditNote = { action: claimedAction(signed) ?? '', via: 'rpc' };
  req.audit = note;
  const verified = await verifySignature(signed, deps.accessKeys, deps.clock());
  note.accessKeyId = verified.accessKeyId;
  // Spent by every answer from here on, a refusal too: a request refused now (say its node
  // has not registered yet) must not succeed when replayed later. Claimed before the action
  // runs, so a replay sent to another replica at the same moment is refused.
  await claimNonce(deps.accessKeys, verified);
  const params = collect(signed);
  const format = params.get('Format');
  if (format !== undefined && format.toLowerCase() !== 'json') {
    throw new AppError('InvalidParameter', `Format: only JSON is supported, got ${format}`);
  }
  const actionName = routing(params, signed.headers, 'Action');
  const version = routing(params, signed.headers, 'Version');
  const dialect = DIALECT_VERSIONS[version];
  if (dialect === undefined) {
    throw new AppError(
      'InvalidVersion',
      `Version: ${JSON.stringify(version)} is not 2022-12-15 (node dialect) or 2014-05-26 (instance dialect)`,
    );
  }
  const actions = DIALECT_ACTIONS[dialect];
  const target = Object.hasOwn(actions, actionName) ? actions[actionName] : undefined;
  const engine = target && RPC_ACTIONS[target.action];
  if (!target || !engine) {
    throw new AppError(
      'InvalidAction.NotFound',
      `Action: ${JSON.stringify(actionName)} is not an action of version ${version}`,
    );
  }
  const body = bodyOf(params, target, kindsOf(target.action, engine.request));
  note.action = target.action;
  note.body = body;
  let answer: Record<string, unknown>;
  try {
    answer = (await engine.handler(body, deps)) as Record<string, unknown>;
  } catch (err) {
    if (err instanceof AppError && err.status < 500) {
      throw new AppError(err.code, renameInMessage(err.message, target));
    }
    throw err;
  }
  if (dialect === 'node') return answer;
  if (target.action === 'DescribeInvocations') answer = await withInstanceFields(answer, deps);
  return toInstanceDialect(answer) as Record<string, unknown>;
}

/**
 * Registers `POST /` and `GET /`. They read their body as raw bytes (the ACS3 signature
 * covers its hash) and authenticate by signature, not by the bearer token of /v1.
 */
export function registerRpc(app: FastifyInstance, deps: RpcDeps): void {
  void app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => {
      done(null, body);
    });
    scope.route({
      method: ['GET', 'POST'],
      url: '/',
      handler: async (req, reply) => {
        const answer = await withSpan(
          'RPC',
          { 'http.request.method': req.method, 'fleetcmd.request_id': String(req.id) },
          () => handle(req, deps),
        );
        return reply.send({ RequestId: req.id, ...answer });
      },
    });
  });
}
