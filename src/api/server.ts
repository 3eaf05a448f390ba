import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import rateLimit from '@fastify/rate-limit';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { RedisClient } from '../store/redis.js';
import {
  DEFAULT_HTTP_LIMITS,
  DEFAULT_TOKEN_NAME,
  type ApiTokenConfig,
  type HttpLimits,
} from '../shared/config.js';
import { jsonKeyProblem } from '../domain/json-keys.js';
import type { RedisWarning } from '../domain/redis-fitness.js';
import { AppError, coerceError } from '../app/errors.js';
import type { Logger } from '../shared/log.js';
import { VERSION } from '../shared/version.js';
import { withSpan } from '../shared/telemetry.js';
import type { ActionDeps } from '../app/deps.js';
import { ACTIONS, findAction, writesState } from './actions/registry.js';
import { auditWrites } from './plugins/audit.js';
import { mayCall, RUN_ROLE_READS, TokenRing, type Principal } from './plugins/auth.js';
import { Metrics, type FleetSource } from './plugins/metrics.js';
import { buildOpenApi } from './plugins/openapi.js';
import { apiReferencePlugin } from './plugins/api-reference.js';
import { consolePlugin } from './plugins/console.js';
import { registerRpc, type RpcDeps } from './rpc/route.js';
import type { WhoamiAnswer } from './schemas/response.js';
import { EventFeed } from './event-feed.js';
import { registerEvents } from './events.js';
import {
  REGISTER_NODE,
  REGISTER_NODE_DOC,
  registerEnrollRoute,
  type EnrollRouteDeps,
} from './enroll-route.js';

/** What the operational routes (/healthz, /readyz, /metrics) need. */
export interface OpsDeps extends FleetSource {
  /** The producer connection, pinged by /readyz. */
  redis: RedisClient;
  /**
   * Why Redis refuses the server's credentials now (a user removed, a password changed), or
   * undefined: /readyz answers 503 with it. @default never refused
   */
  redisRefusal?: () => string | undefined;
  /** Settings of Redis that do not fit the fleet, shown by /readyz. @default none checked */
  redisWarnings?: () => Promise<RedisWarning[]>;
  log: Logger;
  /** This process's metrics (shared with its scheduler). @default a registry of this server's own */
  metrics?: Metrics;
  /** How long GET /metrics waits for Redis before it answers 503. @default 5000 */
  metricsTimeoutMs?: number;
  /** @default 262144 (256 KiB) */
  bodyLimitBytes?: number;
  /** Timeouts and the per-address connection cap (FLEETCMD_HTTP_*). @default DEFAULT_HTTP_LIMITS */
  http?: HttpLimits;
  /**
   * FLEETCMD_TRUST_PROXY: which proxies' X-Forwarded-For sets req.ip (fastify's trustProxy:
   * true, or addresses/CIDRs). @default false: req.ip is the socket's peer
   */
  trustProxy?: boolean | string;
  /** PEM certificate chain and key: the server speaks HTTPS. @default plain HTTP */
  https?: { cert: string; key: string };
}

/** Requests allowed per token in each window, counted in Redis so replicas share them. */
export interface RateLimitSettings {
  max: number;
  windowSeconds: number;
  /** Prefix of the counters' keys (Keys.rateLimitNamespace). */
  nameSpace: string;
}

export interface ServerDeps extends Omit<ActionDeps, 'metrics'>, OpsDeps {
  /**
   * FLEETCMD_API_TOKEN's bearer token (role run, named `default`). With no token here nor in
   * apiTokens the API is open: only with --insecure-no-auth.
   */
  apiToken: string | undefined;
  /** Named tokens with roles (FLEETCMD_API_TOKENS). @default none */
  apiTokens?: readonly ApiTokenConfig[];
  /** @default off */
  rateLimit?: RateLimitSettings;
  /** The RPC protocol's access keys (`POST /`, `GET /`). @default no RPC routes */
  accessKeys?: RpcDeps['accessKeys'];
  /**
   * Opens the connection GET /v1/events reads the event stream on (with `events`: the route
   * exists only with both). @default no GET /v1/events
   */
  eventsConnection?: () => RedisClient;
  /** How often an idle event stream gets a `: ping`. @default 15000 */
  eventsHeartbeatMs?: number;
  /** RegisterNode's settings. @default no RegisterNode route */
  enroll?: Omit<EnrollRouteDeps, 'redis' | 'log' | 'metrics'>;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by authentication: who is calling (undefined while auth is off). */
    principal?: Principal;
  }
}

function sendError(reply: FastifyReply, requestId: string, err: AppError): FastifyReply {
  return reply
    .code(err.status)
    .send({ RequestId: requestId, Code: err.code, Message: err.message });
}

const MAX_HEADER_BYTES = 128 * 1024;

/**
 * Requests Node refuses before any route, answered in the API's error shape too: a request
 * line and headers over MAX_HEADER_BYTES (431), or malformed HTTP (400). A request that timed
 * out gets Node's plain 408.
 */
function clientErrorAnswer(err: Error & { code?: string }, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  if (socket.writable) {
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      socket.write(
        'HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n',
      );
    } else {
      const e =
        err.code === 'HPE_HEADER_OVERFLOW'
          ? new AppError(
              'RequestHeaderTooLarge',
              `the request line and headers are over ${MAX_HEADER_BYTES / 1024} KiB`,
            )
          : new AppError('InvalidParameter', 'the HTTP request is malformed');
      const body = JSON.stringify({
        RequestId: randomUUID().toUpperCase(),
        Code: e.code,
        Message: e.message,
      });
      socket.write(
        `HTTP/1.1 ${e.status} ${e.status === 400 ? 'Bad Request' : 'Request Header Fields Too Large'}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n${body}`,
      );
    }
  }
  socket.destroy(err);
}

/**
 * Refuses (closes at once) a connection from an address that already holds `max` open ones,
 * so one client cannot take every socket the process may open. 0: no cap.
 */
function capConnectionsPerIp(server: Server, max: number): void {
  if (max <= 0) return;
  const open = new Map<string, number>();
  server.on('connection', (socket: Socket) => {
    const ip = socket.remoteAddress ?? '';
    const count = open.get(ip) ?? 0;
    if (count >= max) {
      socket.destroy();
      return;
    }
    open.set(ip, count + 1);
    socket.once('close', () => {
      const left = (open.get(ip) ?? 1) - 1;
      if (left > 0) open.set(ip, left);
      else open.delete(ip);
    });
  });
}

/** The label of a request in the HTTP metrics: its action, else its route (bounded either way). */
function routeLabel(req: FastifyRequest): string {
  const route = req.routeOptions.url;
  if (route === '/v1/:action') {
    const { action } = req.params as { action?: string };
    return action !== undefined && findAction(action) ? action : 'unknown';
  }
  return route ?? 'unknown';
}

/**
 * A server with the operational routes only (/healthz, /readyz, /metrics), its errors in the
 * API's shape and its requests counted: what every role serves; `buildServer` adds the API.
 */
export function buildOpsServer(opsDeps: OpsDeps): FastifyInstance {
  const metrics = opsDeps.metrics ?? new Metrics();
  const deps = { ...opsDeps, metrics };
  const limits = deps.http ?? DEFAULT_HTTP_LIMITS;
  const requestTimeout = limits.requestTimeoutSeconds * 1000;
  const app = Fastify({
    ...(deps.https ? { https: deps.https } : {}),
    logger: false,
    bodyLimit: deps.bodyLimitBytes ?? 256 * 1024,
    // Whole request (headers and body) and socket inactivity: a client that trickles bytes
    // in cannot hold a connection for long.
    requestTimeout,
    connectionTimeout: limits.idleTimeoutSeconds * 1000,
    keepAliveTimeout: limits.keepAliveTimeoutSeconds * 1000,
    http: {
      // The vendor's SDKs send every RPC parameter in the query string (CommandContent too).
      maxHeaderSize: MAX_HEADER_BYTES,
      requestTimeout,
      headersTimeout: limits.headersTimeoutSeconds * 1000,
      // How often Node checks the two timeouts above (its default, 30 s, would add up to 30 s).
      connectionsCheckingInterval: Math.min(1000, requestTimeout),
    },
    clientErrorHandler: clientErrorAnswer,
    trustProxy: deps.trustProxy ?? false,
    genReqId: () => randomUUID().toUpperCase(),
  });
  capConnectionsPerIp(app.server, limits.maxConnectionsPerIp);

  app.setErrorHandler((error: unknown, req: FastifyRequest, reply: FastifyReply) => {
    const status = (error as { statusCode?: number }).statusCode;
    let err: AppError;
    if (error instanceof AppError) err = error;
    else if (status === 413)
      err = new AppError('PayloadTooLarge', 'the request body is over the size limit');
    else if (status !== undefined && status >= 400 && status < 500) {
      err = new AppError('InvalidParameter', (error as Error).message || 'bad request');
    } else err = coerceError(error);
    if (err.status >= 500) {
      deps.log.error(
        { requestId: req.id, err: error instanceof Error ? error.message : String(error) },
        'request failed',
      );
    }
    return sendError(reply, req.id, err);
  });

  app.setNotFoundHandler((req, reply) =>
    sendError(
      reply,
      req.id,
      new AppError('InvalidAction.NotFound', `no route ${req.method} ${req.url.split('?')[0]}`),
    ),
  );

  app.addHook('onResponse', async (req, reply) => {
    metrics.httpRequest(routeLabel(req), reply.statusCode, reply.elapsedTime / 1000);
  });

  app.get('/healthz', async () => ({ status: 'ok' }));

  // Public, like /healthz: Prometheus scrapes without a token, and the API token (which runs
  // commands on every node) should not have to live in the monitoring system. It shows counts
  // only: no node ids, invocation ids, commands or output.
  app.get('/metrics', async (req, reply) => {
    try {
      const text = await metrics.render(deps, deps.metricsTimeoutMs ?? 5_000);
      return await reply.type(metrics.registry.contentType).send(text);
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      deps.log.warn({ requestId: req.id, err: why }, 'metrics unavailable');
      return sendError(
        reply,
        req.id,
        new AppError('ServiceUnavailable', `metrics unavailable: Redis is unreachable (${why})`),
      );
    }
  });

  app.get('/readyz', readiness(deps));

  return app;
}

/**
 * GET /readyz: 503 naming why Redis refuses the server's credentials, or that it is
 * unreachable; else ready, with the settings of Redis that do not fit the fleet.
 */
function readiness(deps: OpsDeps) {
  return async (req: FastifyRequest, reply: FastifyReply) => {
    const refusal = deps.redisRefusal?.();
    if (refusal !== undefined) {
      return sendError(reply, req.id, new AppError('ServiceUnavailable', refusal));
    }
    let warnings: RedisWarning[];
    try {
      await deps.redis.ping();
      warnings = (await deps.redisWarnings?.()) ?? [];
    } catch {
      return sendError(reply, req.id, new AppError('ServiceUnavailable', 'Redis is unreachable'));
    }
    // Ready all the same: a warning names a setting to fix, not a failure.
    return warnings.length === 0 ? { status: 'ready' } : { status: 'ready', warnings };
  };
}

/** Every body is parsed as JSON whatever its Content-Type (curl -d sends form encoding). */
function parseJsonBodies(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, text, done) => {
    const s = String(text);
    if (s.trim() === '') return done(null, undefined);
    let body: unknown;
    try {
      body = JSON.parse(s);
    } catch {
      done(
        new AppError('InvalidParameter.MalformedJson', 'the request body is not valid JSON'),
        undefined,
      );
      return;
    }
    // JSON.parse keeps the last of a key given twice: refused rather than guessed at.
    const problem = jsonKeyProblem(s);
    if (problem !== undefined) {
      done(new AppError('InvalidParameter', `${problem} in the JSON body`), undefined);
    } else done(null, body);
  });
}

/** The bearer tokens: FLEETCMD_API_TOKEN's (role run) and the named ones. */
function tokenRing(deps: ServerDeps): TokenRing {
  return new TokenRing([
    ...(deps.apiToken !== undefined
      ? [{ name: DEFAULT_TOKEN_NAME, role: 'run' as const, token: deps.apiToken }]
      : []),
    ...(deps.apiTokens ?? []),
  ]);
}

type OnRequest = (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>;

/**
 * Authentication runs before the body is read, so an anonymous caller learns nothing else; its
 * refusal closes the connection rather than wait for (and read) the rest of the body.
 */
function authenticator(ring: TokenRing, log: Logger): OnRequest {
  return async (req, reply) => {
    if (ring.size === 0) return;
    req.principal = ring.identify(req.headers.authorization);
    if (req.principal === undefined) {
      // The header itself is never logged, not even in part.
      log.debug({ requestId: req.id, ip: req.ip }, 'request without a valid token refused');
      void reply.header('connection', 'close');
      throw new AppError(
        'InvalidToken',
        'missing or wrong bearer token in the Authorization header',
      );
    }
  };
}

/**
 * Registers the rate limiter on `api` and answers its hook: per token name (never the token),
 * per client address before a valid token.
 */
async function rateLimiter(
  api: FastifyInstance,
  limits: RateLimitSettings,
  redis: RedisClient,
  ring: TokenRing,
): Promise<OnRequest> {
  await api.register(rateLimit, {
    global: false,
    max: limits.max,
    timeWindow: limits.windowSeconds * 1000,
    redis,
    nameSpace: limits.nameSpace,
    // Redis away: let the request through, its action answers 503 on its own.
    skipOnError: true,
    keyGenerator: (req) => {
      const who = ring.size > 0 ? ring.identify(req.headers.authorization) : undefined;
      return who ? `t:${who.name}` : `a:${req.ip}`;
    },
    errorResponseBuilder: (_req, ctx) =>
      new AppError(
        'Throttling',
        `too many requests: at most ${ctx.max} per ${limits.windowSeconds} s for this token; retry in ${ctx.after}`,
      ),
  });
  // With no options of its own, the handler counts in the plugin's store: keys are
  // `<nameSpace><key>` (a route-level limit would put the route in them).
  const limit = api.rateLimit();
  return (req, reply) => limit.call(api, req, reply);
}

/** Names the /v1 call's action for its audit event (src/api/plugins/audit.ts). */
const noteAction: OnRequest = async (req) => {
  const { action } = req.params as { action?: string };
  if (action !== undefined) req.audit = { action, via: 'api' };
};

/** `POST /v1/{Action}`: the action's handler, for a caller whose role may call it. */
async function runAction(
  req: FastifyRequest<{ Params: { action: string } }>,
  reply: FastifyReply,
  deps: ActionDeps & { log: Logger },
): Promise<FastifyReply> {
  const name = req.params.action;
  const action = findAction(name);
  if (!action)
    throw new AppError('InvalidAction.NotFound', `unknown action ${JSON.stringify(name)}`);
  if (req.principal !== undefined && !mayCall(req.principal.role, name)) {
    throw new AppError('Forbidden.Role', forbiddenMessage(req.principal, name));
  }
  deps.log.debug({ requestId: req.id, action: name, tokenName: req.principal?.name }, 'request');
  const result = await action.handler(req.body, deps);
  return reply.send({ RequestId: req.id, ...result });
}

/** The HTTP API: the operational routes, /docs and `POST /v1/{Action}`. */
export function buildServer(serverDeps: ServerDeps): FastifyInstance {
  const deps = { ...serverDeps, metrics: serverDeps.metrics ?? new Metrics() };
  const app = buildOpsServer(deps);
  parseJsonBodies(app);
  // Every state-changing call, /v1 and RPC, in one place (src/api/plugins/audit.ts).
  auditWrites(app, deps.audit, deps.log, (a) => a === REGISTER_NODE || writesState(a));

  // Public: the request schemas are no secret (the README has them too).
  const openApi = JSON.stringify(
    buildOpenApi(ACTIONS, VERSION, { [REGISTER_NODE]: REGISTER_NODE_DOC }),
  );
  app.get('/docs/openapi.json', async (_req, reply) =>
    reply.type('application/json').send(openApi),
  );
  // A browser (which asks for HTML first) gets the rendered reference, everything else the JSON.
  app.get('/docs', async (req, reply) =>
    /^text\/html/.test(req.headers.accept ?? '')
      ? reply.redirect('/docs/reference/')
      : reply.type('application/json').send(openApi),
  );
  app.register(apiReferencePlugin);
  app.register(consolePlugin(), { prefix: '/ui' });

  // The vendor's RPC protocol: signed by access keys, not by the bearer token.
  if (deps.accessKeys) registerRpc(app, { ...deps, accessKeys: deps.accessKeys });

  const enroll = deps.enroll;
  if (enroll) {
    app.register(async (scope) =>
      registerEnrollRoute(scope, {
        ...enroll,
        redis: deps.redis,
        log: deps.log,
        metrics: deps.metrics,
      }),
    );
  }

  const ring = tokenRing(deps);
  // Inside a plugin so the rate limiter is loaded before the route that uses it.
  app.register(async (api) => {
    // First: a call refused by the rate limiter or authentication is still known by action.
    const onRequest = [noteAction, authenticator(ring, deps.log)];
    const limits = deps.rateLimit;
    // Before authentication, so callers with no or a wrong token are limited (by address) too.
    if (limits !== undefined && limits.max > 0) {
      onRequest.splice(1, 0, await rateLimiter(api, limits, deps.redis, ring));
    }
    api.post<{ Params: { action: string } }>('/v1/:action', { onRequest }, (req, reply) =>
      withSpan(
        `POST /v1/${findAction(req.params.action) ? req.params.action : 'unknown'}`,
        { 'http.request.method': 'POST', 'fleetcmd.request_id': String(req.id) },
        () => runAction(req, reply, deps),
      ),
    );
    // Who the token is: the console shows a read-only view to a `read` token.
    api.get(
      '/v1/whoami',
      { onRequest },
      async (req): Promise<WhoamiAnswer & { RequestId: string }> => ({
        RequestId: req.id,
        TokenName: req.principal?.name ?? '',
        Role: req.principal?.role ?? 'run',
      }),
    );
    const { events, eventsConnection } = deps;
    if (events && eventsConnection) {
      const feed = new EventFeed(events, eventsConnection, deps.log);
      registerEvents(api, onRequest, {
        events,
        feed,
        log: deps.log,
        heartbeatMs: deps.eventsHeartbeatMs,
      });
    }
  });

  return app;
}

/** Why a token's role may not call an action, for Forbidden.Role. */
function forbiddenMessage(principal: Principal, name: string): string {
  const who = `the token ${JSON.stringify(principal.name)} has the role ${principal.role}`;
  if (RUN_ROLE_READS.has(name)) return `${who}; ${name} needs the role run or admin`;
  if (principal.role === 'read') return `${who}, which may call Describe* and List* actions only`;
  return `${who}, which may not call ${name} (admin tokens only)`;
}
