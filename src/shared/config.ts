import { isAbsolute } from 'node:path';
import { z } from 'zod';
import { ConfigError } from './config-error.js';
import { bool, positiveInt, wholeNumber } from './config-fields.js';
import { apiTokenList, type ApiTokenConfig } from './api-tokens.js';
import { clusterNodes, DEFAULT_REDIS_URL, type RedisTarget } from './redis-target.js';

export type { ClusterTarget, RedisTarget } from './redis-target.js';
export { DEFAULT_TOKEN_NAME, type ApiTokenConfig, type TokenRole } from './api-tokens.js';

/** Where a setting came from: environment variable names are the canonical keys. */
export type RawSettings = Record<string, string | boolean | undefined>;

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** An RPC AccessKey ID. */
export const ACCESS_KEY_ID_RE = ID_RE;

/** The HTTP server's limits against slow or greedy clients. */
export interface HttpLimits {
  requestTimeoutSeconds: number;
  /** At most requestTimeoutSeconds. */
  headersTimeoutSeconds: number;
  keepAliveTimeoutSeconds: number;
  idleTimeoutSeconds: number;
  /** 0: no cap. */
  maxConnectionsPerIp: number;
}

/** The FLEETCMD_HTTP_* defaults (also what a server built without them uses). */
export const DEFAULT_HTTP_LIMITS: Readonly<HttpLimits> = Object.freeze({
  requestTimeoutSeconds: 30,
  headersTimeoutSeconds: 10,
  keepAliveTimeoutSeconds: 5,
  idleTimeoutSeconds: 120,
  maxConnectionsPerIp: 64,
});

/**
 * One schema over environment variables and command-line flags (flags are mapped onto the
 * variable names before parsing, so a message always names the variable to fix).
 */
const settingsSchema = z.object({
  /** One Redis; not with REDIS_CLUSTER_NODES. @default redis://127.0.0.1:6379 */
  REDIS_URL: z
    .string()
    .refine((u) => /^rediss?:\/\//.test(u), {
      message: 'REDIS_URL must start with redis:// or rediss://',
    })
    .optional(),
  /**
   * A Redis Cluster instead of one Redis: some of its nodes, `host:port` separated by commas
   * (`rediss://host:port` for TLS), from which the client learns the others. @default unset
   */
  REDIS_CLUSTER_NODES: clusterNodes,
  /** The ACL user of REDIS_CLUSTER_NODES (with REDIS_URL, put it in the URL). @default default */
  REDIS_USERNAME: z.string().optional(),
  /** The password of REDIS_CLUSTER_NODES (with REDIS_URL, put it in the URL). @default none */
  REDIS_PASSWORD: z.string().optional(),
  /** 0: any free port, the bound one is logged (`"url"` of the "server started" line). @default 8080 */
  PORT: wholeNumber('PORT', 8080, 0).refine((p) => p <= 65535, {
    message: 'PORT must be 0..65535',
  }),
  /** Address the HTTP API binds to. @default 0.0.0.0 */
  FLEETCMD_HOST: z.string().min(1).default('0.0.0.0'),
  FLEETCMD_API_TOKEN: z.string().optional(),
  FLEETCMD_API_TOKENS: apiTokenList,
  /**
   * Requests per token (per client address before a valid token) in each rate-limit window,
   * shared by every replica through Redis; 0 turns rate limiting off. @default 0
   */
  FLEETCMD_RATE_LIMIT: wholeNumber('FLEETCMD_RATE_LIMIT', 0, 0),
  /** @default 60 */
  FLEETCMD_RATE_LIMIT_WINDOW_SECONDS: positiveInt('FLEETCMD_RATE_LIMIT_WINDOW_SECONDS', 60),
  /**
   * How long a client has to send a whole request, headers and body (Node's requestTimeout):
   * a body that trickles in is cut off after it. @default 30
   */
  FLEETCMD_HTTP_REQUEST_TIMEOUT_SECONDS: positiveInt(
    'FLEETCMD_HTTP_REQUEST_TIMEOUT_SECONDS',
    DEFAULT_HTTP_LIMITS.requestTimeoutSeconds,
  ),
  /** How long a client has to send the request line and headers. @default 10 */
  FLEETCMD_HTTP_HEADERS_TIMEOUT_SECONDS: positiveInt(
    'FLEETCMD_HTTP_HEADERS_TIMEOUT_SECONDS',
    DEFAULT_HTTP_LIMITS.headersTimeoutSeconds,
  ),
  /** How long an idle keep-alive connection is kept between requests. @default 5 */
  FLEETCMD_HTTP_KEEP_ALIVE_TIMEOUT_SECONDS: positiveInt(
    'FLEETCMD_HTTP_KEEP_ALIVE_TIMEOUT_SECONDS',
    DEFAULT_HTTP_LIMITS.keepAliveTimeoutSeconds,
  ),
  /**
   * A connection that sends and receives nothing for this long is closed (fastify's
   * connectionTimeout), whatever it is doing. @default 120
   */
  FLEETCMD_HTTP_IDLE_TIMEOUT_SECONDS: positiveInt(
    'FLEETCMD_HTTP_IDLE_TIMEOUT_SECONDS',
    DEFAULT_HTTP_LIMITS.idleTimeoutSeconds,
  ),
  /** Open connections one client address may hold; 0 means no cap. @default 64 */
  FLEETCMD_HTTP_MAX_CONNECTIONS_PER_IP: wholeNumber(
    'FLEETCMD_HTTP_MAX_CONNECTIONS_PER_IP',
    DEFAULT_HTTP_LIMITS.maxConnectionsPerIp,
    0,
  ),
  /** SendFile may set setuid/setgid on a file its group or others may write. */
  FLEETCMD_ALLOW_SETUID_FILES: bool,
  FLEETCMD_INSECURE_NO_AUTH: bool,
  /** The agent starts even when its Redis credentials reach beyond its own node. */
  FLEETCMD_ALLOW_SHARED_CREDENTIALS: bool,
  /** RPC access keys, `id:secret` pairs separated by commas. @default none */
  FLEETCMD_ACCESS_KEYS: z
    .string()
    .default('')
    .transform((text, ctx) => {
      const out = new Map<string, string>();
      for (const pair of text
        .split(',')
        .map((p) => p.trim())
        .filter(Boolean)) {
        const colon = pair.indexOf(':');
        const id = colon < 0 ? pair : pair.slice(0, colon);
        const secret = colon < 0 ? '' : pair.slice(colon + 1);
        const problem = !ACCESS_KEY_ID_RE.test(id)
          ? `access key id ${JSON.stringify(id)} must be 1-64 letters, digits, ".", "_" or "-"`
          : secret.length < 16 || /\s/.test(secret)
            ? `the secret of ${id} must be at least 16 characters without spaces`
            : out.has(id)
              ? `access key id ${id} is given twice`
              : undefined;
        if (problem !== undefined) {
          ctx.addIssue({
            code: 'custom',
            message: `FLEETCMD_ACCESS_KEYS: ${problem} (id:secret,...)`,
          });
          return z.NEVER;
        }
        out.set(id, secret);
      }
      return out as ReadonlyMap<string, string>;
    }),
  FLEETCMD_ROLE: z
    .enum(['api', 'scheduler', 'all'], { message: 'FLEETCMD_ROLE must be api, scheduler or all' })
    .default('all'),
  FLEETCMD_NODE_ID: z
    .string()
    .regex(ID_RE, {
      message:
        'FLEETCMD_NODE_ID must be 1-64 characters of letters, digits, ".", "_" or "-", starting with a letter or digit',
    })
    .optional(),
  /**
   * The agent's node tags, `key=value` pairs separated by commas (`--tag` flags are joined into
   * it). Checked by the agent as it starts (workers/agent/main.ts): a bad one stops it with a
   * message naming this variable. @default none
   */
  FLEETCMD_NODE_TAGS: z
    .string()
    .max(8192, { message: 'FLEETCMD_NODE_TAGS is too long' })
    .default(''),
  /** @default 10 */
  FLEETCMD_HEARTBEAT_SECONDS: positiveInt('FLEETCMD_HEARTBEAT_SECONDS', 10),
  /**
   * How long a node may go without a heartbeat before the scheduler ends its runs as lost
   * (`ClientNotResponse`); at least MIN_LOST_HEARTBEATS heartbeats. @default 300
   */
  FLEETCMD_NODE_LOST_SECONDS: positiveInt('FLEETCMD_NODE_LOST_SECONDS', 300),
  /** @default 60 */
  FLEETCMD_DELIVERY_TIMEOUT_SECONDS: positiveInt('FLEETCMD_DELIVERY_TIMEOUT_SECONDS', 60),
  /** @default 10 */
  FLEETCMD_MIN_INTERVAL_SECONDS: positiveInt('FLEETCMD_MIN_INTERVAL_SECONDS', 10),
  /**
   * Scheduler jobs (fires, fan-outs, delivery checks) one server takes in parallel. More is not
   * better on a spawn-bound box: at 200 every-second schedules on 2 cores, 256 gave p99
   * 1.8-2.0 s and 361-390 skipped fires where 32 gave 1.1-1.2 s and 0-38. @default 32
   */
  FLEETCMD_SCHEDULER_CONCURRENCY: positiveInt('FLEETCMD_SCHEDULER_CONCURRENCY', 32),
  /**
   * A one-off invocation of at most this many nodes is fanned out by RunCommand itself before
   * it answers (single hop); a larger one by a scheduler job, so the answer does not wait for
   * every node's record and job. Either way its delivery deadline finishes a fan-out a crash
   * cut short. 0: always by the scheduler. @default 64
   */
  FLEETCMD_INLINE_FANOUT_NODES: wholeNumber('FLEETCMD_INLINE_FANOUT_NODES', 64, 0),
  /** Parallel runs one agent accepts. @default 16 */
  FLEETCMD_AGENT_CONCURRENCY: positiveInt('FLEETCMD_AGENT_CONCURRENCY', 16),
  /** How long a stopping agent lets running commands finish before it kills them. @default 30 */
  FLEETCMD_AGENT_GRACE_SECONDS: positiveInt('FLEETCMD_AGENT_GRACE_SECONDS', 30),
  /**
   * How long an agent's claim on a job lasts without renewal (BullMQ lockDuration); a dead
   * agent's job is failed (never re-run) once it lapses. @default 30
   */
  FLEETCMD_AGENT_LOCK_SECONDS: positiveInt('FLEETCMD_AGENT_LOCK_SECONDS', 30),
  /**
   * Where the agent makes each run's private script directory. @default /dev/shm when the agent
   * can write there, else the system's temporary directory
   */
  FLEETCMD_SCRIPT_DIR: z
    .string()
    .refine((d) => isAbsolute(d), { message: 'FLEETCMD_SCRIPT_DIR must be an absolute path' })
    .optional(),
  /**
   * TEST ONLY: a file path the scheduler's fire handler pauses on once armed (see
   * src/scheduler/test-pause.ts); inert unless set, never set in production. @default unset
   */
  FLEETCMD_TEST_PAUSE_IN_FIRE: z
    .string()
    .refine((d) => isAbsolute(d), {
      message: 'FLEETCMD_TEST_PAUSE_IN_FIRE must be an absolute path',
    })
    .optional(),
  /** How long invocations and their per-node results are kept. @default 2419200 (28 days) */
  FLEETCMD_RETENTION_SECONDS: positiveInt('FLEETCMD_RETENTION_SECONDS', 28 * 24 * 3600),
  /**
   * Most lifecycle events the event stream keeps (GET /v1/events resumes only while it still
   * holds the last one seen); trimmed approximately (XADD MAXLEN ~). @default 10000
   */
  FLEETCMD_EVENTS_MAXLEN: positiveInt('FLEETCMD_EVENTS_MAXLEN', 10_000),
  /** Past runs kept per node of a timed invocation (DescribeInvocationResults). @default 100 */
  FLEETCMD_HISTORY_RUNS: positiveInt('FLEETCMD_HISTORY_RUNS', 100),
  /** How long a past run of a timed invocation is kept. @default 604800 (7 days) */
  FLEETCMD_HISTORY_SECONDS: positiveInt('FLEETCMD_HISTORY_SECONDS', 7 * 24 * 3600),
  /**
   * How long audit events are kept (DescribeAuditEvents, docs/audit.md), at most 100 years.
   * @default 90
   */
  FLEETCMD_AUDIT_RETENTION_DAYS: positiveInt('FLEETCMD_AUDIT_RETENTION_DAYS', 90).refine(
    (d) => d <= 36_500,
    { message: 'FLEETCMD_AUDIT_RETENTION_DAYS must be at most 36500 (100 years)' },
  ),
  /**
   * Webhooks may reach loopback, link-local (metadata), private and reserved addresses
   * (docs/webhooks.md#ssrf-guard). @default false
   */
  FLEETCMD_WEBHOOK_ALLOW_PRIVATE: bool,
  /** The most webhooks that may exist. @default 20 */
  FLEETCMD_WEBHOOKS_MAX: positiveInt('FLEETCMD_WEBHOOKS_MAX', 20),
  /** How long one delivery attempt may take before it counts as no answer. @default 10000 */
  FLEETCMD_WEBHOOK_TIMEOUT_MS: positiveInt('FLEETCMD_WEBHOOK_TIMEOUT_MS', 10_000),
  /** The wait before a delivery's first retry, doubled at each next one. @default 5000 */
  FLEETCMD_WEBHOOK_RETRY_BASE_MS: positiveInt('FLEETCMD_WEBHOOK_RETRY_BASE_MS', 5_000),
  /** The longest wait between two attempts. @default 900000 (15 minutes) */
  FLEETCMD_WEBHOOK_RETRY_MAX_MS: positiveInt('FLEETCMD_WEBHOOK_RETRY_MAX_MS', 900_000),
  /** A delivery is given up (Failed) this long after its first attempt. @default 86400 (24 h) */
  FLEETCMD_WEBHOOK_RETRY_SECONDS: positiveInt('FLEETCMD_WEBHOOK_RETRY_SECONDS', 86_400),
  /** Events a webhook's backlog keeps while its receiver is away (oldest dropped). @default 10000 */
  FLEETCMD_WEBHOOK_BACKLOG: positiveInt('FLEETCMD_WEBHOOK_BACKLOG', 10_000),
  FLEETCMD_BOOT_ID: z.string().min(1).max(128).optional(),
  /**
   * A test aid: the agent reads its own clock this many ms ahead (negative: behind) of the
   * host's, as a host whose clock is wrong would. @default 0
   */
  FLEETCMD_AGENT_CLOCK_SKEW_MS: z
    .union([z.string(), z.number()])
    .default('0')
    .transform((v, ctx) => {
      const text = String(v).trim();
      if (!/^-?\d{1,12}$/.test(text)) {
        ctx.addIssue({
          code: 'custom',
          message: `FLEETCMD_AGENT_CLOCK_SKEW_MS must be a whole number of ms (may be negative), got ${JSON.stringify(String(v))}`,
        });
        return z.NEVER;
      }
      return Number(text);
    }),
  /**
   * Where OpenTelemetry traces go (OTLP/HTTP); set, tracing is on (the exporter reads the other
   * OTEL_EXPORTER_OTLP_* variables itself). @default off
   */
  OTEL_EXPORTER_OTLP_ENDPOINT: z
    .url({ message: 'OTEL_EXPORTER_OTLP_ENDPOINT must be a URL such as http://collector:4318' })
    .refine((u) => /^https?:/.test(u), {
      message: 'OTEL_EXPORTER_OTLP_ENDPOINT must be an http:// or https:// URL',
    })
    .optional(),
  /** Redis key prefix. @default fc */
  FLEETCMD_PREFIX: z
    .string()
    .default('fc')
    .refine((p) => /^[A-Za-z0-9_-]{1,32}$/.test(p), {
      message: 'FLEETCMD_PREFIX must be 1-32 letters, digits, "_" or "-"',
    }),
  /**
   * The Redis URL RegisterNode hands to agents, with the node's own user and password put in
   * (any credentials in it are replaced): where nodes reach Redis. @default REDIS_URL
   */
  FLEETCMD_AGENT_REDIS_URL: z
    .string()
    .refine((u) => /^rediss?:\/\//.test(u), {
      message: 'FLEETCMD_AGENT_REDIS_URL must start with redis:// or rediss://',
    })
    .optional(),
  /** RegisterNode calls per client address in each rate-limit window; 0: no limit. @default 20 */
  FLEETCMD_REGISTER_RATE_LIMIT: wholeNumber('FLEETCMD_REGISTER_RATE_LIMIT', 20, 0),
  /**
   * Which proxies' X-Forwarded-For gives the client address (RegisterNode's IpAddressRange and
   * rate limit): `true` (any: only behind a proxy that sets it), or addresses/CIDRs separated
   * by commas. @default false (the connection's peer address)
   */
  FLEETCMD_TRUST_PROXY: z
    .string()
    .default('false')
    .transform((v): boolean | string => (v === 'true' ? true : v === 'false' ? false : v)),
  /** Where the agent keeps what RegisterNode answered. @default /var/lib/fleetcmd */
  FLEETCMD_STATE_DIR: z
    .string()
    .default('/var/lib/fleetcmd')
    .refine((d) => isAbsolute(d), { message: 'FLEETCMD_STATE_DIR must be an absolute path' }),
  /** PEM certificate chain: with FLEETCMD_TLS_KEY, the server serves HTTPS. */
  FLEETCMD_TLS_CERT: z.string().optional(),
  /** PEM private key of FLEETCMD_TLS_CERT. */
  FLEETCMD_TLS_KEY: z.string().optional(),
  /** PEM CA certificate(s) the agent and the CLI verify the server's certificate with. */
  FLEETCMD_CA: z.string().optional(),
  /** @default info */
  LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
      message: 'LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent',
    })
    .default('info'),
});

export interface Config {
  /** Where Redis is: REDIS_URL, or REDIS_CLUSTER_NODES with REDIS_USERNAME and REDIS_PASSWORD. */
  redis: RedisTarget;
  port: number;
  host: string;
  apiToken: string | undefined;
  /** FLEETCMD_API_TOKENS (FLEETCMD_API_TOKEN's token is not in it). */
  apiTokens: readonly ApiTokenConfig[];
  rateLimit: number;
  rateLimitWindowSeconds: number;
  /** The HTTP server's timeouts and connection cap (FLEETCMD_HTTP_*). */
  http: HttpLimits;
  allowSetuidFiles: boolean;
  insecureNoAuth: boolean;
  allowSharedCredentials: boolean;
  /** Static RPC access keys (id -> secret) from FLEETCMD_ACCESS_KEYS. */
  accessKeys: ReadonlyMap<string, string>;
  role: 'api' | 'scheduler' | 'all';
  nodeId: string | undefined;
  heartbeatSeconds: number;
  /** FLEETCMD_NODE_LOST_SECONDS: a node silent this long has its runs ended as lost. */
  nodeLostSeconds: number;
  deliveryTimeoutSeconds: number;
  minIntervalSeconds: number;
  schedulerConcurrency: number;
  /** FLEETCMD_INLINE_FANOUT_NODES: the most nodes RunCommand fans out before it answers. */
  inlineFanOutNodes: number;
  agentConcurrency: number;
  agentGraceSeconds: number;
  agentLockSeconds: number;
  /** FLEETCMD_SCRIPT_DIR; undefined: the agent's default. */
  scriptDir: string | undefined;
  /** FLEETCMD_TEST_PAUSE_IN_FIRE (test only); undefined: no pause. */
  testPauseInFire: string | undefined;
  retentionSeconds: number;
  /** FLEETCMD_EVENTS_MAXLEN: most events the event stream keeps. */
  eventsMaxLen: number;
  historyRuns: number;
  historySeconds: number;
  /** FLEETCMD_AUDIT_RETENTION_DAYS: how long audit events are kept. */
  auditRetentionDays: number;
  /** FLEETCMD_WEBHOOK_* and FLEETCMD_WEBHOOKS_MAX (docs/webhooks.md). */
  webhooks: {
    allowPrivate: boolean;
    max: number;
    timeoutMs: number;
    retryBaseMs: number;
    retryMaxMs: number;
    retrySeconds: number;
    backlogMax: number;
  };
  /** OTEL_EXPORTER_OTLP_ENDPOINT: traces are on while it is set. */
  otlpEndpoint: string | undefined;
  bootId: string | undefined;
  /** FLEETCMD_AGENT_CLOCK_SKEW_MS (a test aid). */
  agentClockSkewMs: number;
  /** FLEETCMD_NODE_TAGS as given (`k=v,k2=v2`); the agent parses it. */
  nodeTags: string;
  prefix: string;
  logLevel: string;
  /**
   * Where registered agents reach Redis: FLEETCMD_AGENT_REDIS_URL, else the server's own target
   * (REDIS_URL, or REDIS_CLUSTER_NODES); RegisterNode puts the node's credentials in it.
   */
  agentRedis: RedisTarget;
  registerRateLimit: number;
  trustProxy: boolean | string;
  stateDir: string;
  /** FLEETCMD_TLS_CERT and FLEETCMD_TLS_KEY (paths), both or neither. */
  tls: { certFile: string; keyFile: string } | undefined;
  /** FLEETCMD_CA (path). */
  caFile: string | undefined;
}

/**
 * FLEETCMD_NODE_LOST_SECONDS must span this many heartbeats: a node is shown offline after 2.5
 * missed ones, and a run must not be ended while its agent is only late.
 */
export const MIN_LOST_HEARTBEATS = 3;

export { ConfigError };

/** FLEETCMD_TLS_CERT and FLEETCMD_TLS_KEY: both (HTTPS) or neither. */
function tlsFiles(certFile: string | undefined, keyFile: string | undefined): Config['tls'] {
  if (certFile === undefined && keyFile === undefined) return undefined;
  if (certFile === undefined || keyFile === undefined) {
    const [missing, given] =
      certFile === undefined
        ? ['FLEETCMD_TLS_CERT', 'FLEETCMD_TLS_KEY']
        : ['FLEETCMD_TLS_KEY', 'FLEETCMD_TLS_CERT'];
    throw new ConfigError(
      `invalid configuration:\n  ${missing} is required with ${given} (HTTPS needs both)`,
    );
  }
  return Object.freeze({ certFile, keyFile });
}

/** The checks that span several variables; each throws a ConfigError naming them. */
function checkTogether(s: z.output<typeof settingsSchema>): void {
  if (s.REDIS_URL !== undefined && s.REDIS_CLUSTER_NODES !== undefined) {
    throw new ConfigError(
      'invalid configuration:\n  REDIS_URL and REDIS_CLUSTER_NODES are both set: set REDIS_URL for one Redis or REDIS_CLUSTER_NODES for a Redis Cluster, not both',
    );
  }
  const credential = s.REDIS_USERNAME !== undefined ? 'REDIS_USERNAME' : 'REDIS_PASSWORD';
  if (
    s.REDIS_CLUSTER_NODES === undefined &&
    (s.REDIS_USERNAME !== undefined || s.REDIS_PASSWORD !== undefined)
  ) {
    throw new ConfigError(
      `invalid configuration:\n  ${credential} goes with REDIS_CLUSTER_NODES; for one Redis put the user and password in REDIS_URL (redis://user:password@host:port)`,
    );
  }
  if (s.FLEETCMD_API_TOKENS.some((t) => t.token === s.FLEETCMD_API_TOKEN)) {
    throw new ConfigError(
      'invalid configuration:\n  FLEETCMD_API_TOKENS: an entry repeats the token of FLEETCMD_API_TOKEN',
    );
  }
  if (s.FLEETCMD_HTTP_HEADERS_TIMEOUT_SECONDS > s.FLEETCMD_HTTP_REQUEST_TIMEOUT_SECONDS) {
    throw new ConfigError(
      'invalid configuration:\n  FLEETCMD_HTTP_HEADERS_TIMEOUT_SECONDS must not be over FLEETCMD_HTTP_REQUEST_TIMEOUT_SECONDS (the headers are part of the request)',
    );
  }
  if (s.FLEETCMD_NODE_LOST_SECONDS < MIN_LOST_HEARTBEATS * s.FLEETCMD_HEARTBEAT_SECONDS) {
    throw new ConfigError(
      `invalid configuration:\n  FLEETCMD_NODE_LOST_SECONDS must be at least ${MIN_LOST_HEARTBEATS} heartbeats ` +
        `(${MIN_LOST_HEARTBEATS} × FLEETCMD_HEARTBEAT_SECONDS = ${MIN_LOST_HEARTBEATS * s.FLEETCMD_HEARTBEAT_SECONDS}), ` +
        `got ${s.FLEETCMD_NODE_LOST_SECONDS}`,
    );
  }
}

/** REDIS_CLUSTER_NODES with its credentials, else REDIS_URL (or its default). */
function redisTarget(s: z.output<typeof settingsSchema>): RedisTarget {
  if (s.REDIS_CLUSTER_NODES === undefined) {
    return Object.freeze({ kind: 'url', url: s.REDIS_URL ?? DEFAULT_REDIS_URL });
  }
  return Object.freeze({
    kind: 'cluster',
    ...s.REDIS_CLUSTER_NODES,
    ...(s.REDIS_USERNAME !== undefined ? { username: s.REDIS_USERNAME } : {}),
    ...(s.REDIS_PASSWORD !== undefined ? { password: s.REDIS_PASSWORD } : {}),
  });
}

/** Parses settings once; a bad value throws a ConfigError naming the variable. */
export function loadConfig(env: RawSettings): Readonly<Config> {
  const known = Object.keys(settingsSchema.shape);
  const picked: RawSettings = {};
  for (const k of known) {
    const v = env[k];
    if (v !== undefined && v !== '') picked[k] = v;
  }
  const parsed = settingsSchema.safeParse(picked);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => {
      const name = i.path.join('.') || 'configuration';
      return i.message.startsWith(name) ? i.message : `${name}: ${i.message}`;
    });
    throw new ConfigError(`invalid configuration:\n  ${lines.join('\n  ')}`);
  }
  const s = parsed.data;
  checkTogether(s);
  return Object.freeze({
    redis: redisTarget(s),
    port: s.PORT,
    host: s.FLEETCMD_HOST,
    apiToken: s.FLEETCMD_API_TOKEN,
    apiTokens: Object.freeze(s.FLEETCMD_API_TOKENS),
    rateLimit: s.FLEETCMD_RATE_LIMIT,
    rateLimitWindowSeconds: s.FLEETCMD_RATE_LIMIT_WINDOW_SECONDS,
    http: Object.freeze({
      requestTimeoutSeconds: s.FLEETCMD_HTTP_REQUEST_TIMEOUT_SECONDS,
      headersTimeoutSeconds: s.FLEETCMD_HTTP_HEADERS_TIMEOUT_SECONDS,
      keepAliveTimeoutSeconds: s.FLEETCMD_HTTP_KEEP_ALIVE_TIMEOUT_SECONDS,
      idleTimeoutSeconds: s.FLEETCMD_HTTP_IDLE_TIMEOUT_SECONDS,
      maxConnectionsPerIp: s.FLEETCMD_HTTP_MAX_CONNECTIONS_PER_IP,
    }),
    allowSetuidFiles: s.FLEETCMD_ALLOW_SETUID_FILES,
    insecureNoAuth: s.FLEETCMD_INSECURE_NO_AUTH,
    allowSharedCredentials: s.FLEETCMD_ALLOW_SHARED_CREDENTIALS,
    accessKeys: s.FLEETCMD_ACCESS_KEYS,
    role: s.FLEETCMD_ROLE,
    nodeId: s.FLEETCMD_NODE_ID,
    heartbeatSeconds: s.FLEETCMD_HEARTBEAT_SECONDS,
    nodeLostSeconds: s.FLEETCMD_NODE_LOST_SECONDS,
    deliveryTimeoutSeconds: s.FLEETCMD_DELIVERY_TIMEOUT_SECONDS,
    minIntervalSeconds: s.FLEETCMD_MIN_INTERVAL_SECONDS,
    schedulerConcurrency: s.FLEETCMD_SCHEDULER_CONCURRENCY,
    inlineFanOutNodes: s.FLEETCMD_INLINE_FANOUT_NODES,
    agentConcurrency: s.FLEETCMD_AGENT_CONCURRENCY,
    agentGraceSeconds: s.FLEETCMD_AGENT_GRACE_SECONDS,
    agentLockSeconds: s.FLEETCMD_AGENT_LOCK_SECONDS,
    scriptDir: s.FLEETCMD_SCRIPT_DIR,
    testPauseInFire: s.FLEETCMD_TEST_PAUSE_IN_FIRE,
    retentionSeconds: s.FLEETCMD_RETENTION_SECONDS,
    eventsMaxLen: s.FLEETCMD_EVENTS_MAXLEN,
    historyRuns: s.FLEETCMD_HISTORY_RUNS,
    historySeconds: s.FLEETCMD_HISTORY_SECONDS,
    auditRetentionDays: s.FLEETCMD_AUDIT_RETENTION_DAYS,
    webhooks: {
      allowPrivate: s.FLEETCMD_WEBHOOK_ALLOW_PRIVATE,
      max: s.FLEETCMD_WEBHOOKS_MAX,
      timeoutMs: s.FLEETCMD_WEBHOOK_TIMEOUT_MS,
      retryBaseMs: s.FLEETCMD_WEBHOOK_RETRY_BASE_MS,
      retryMaxMs: s.FLEETCMD_WEBHOOK_RETRY_MAX_MS,
      retrySeconds: s.FLEETCMD_WEBHOOK_RETRY_SECONDS,
      backlogMax: s.FLEETCMD_WEBHOOK_BACKLOG,
    },
    otlpEndpoint: s.OTEL_EXPORTER_OTLP_ENDPOINT,
    bootId: s.FLEETCMD_BOOT_ID,
    agentClockSkewMs: s.FLEETCMD_AGENT_CLOCK_SKEW_MS,
    nodeTags: s.FLEETCMD_NODE_TAGS,
    prefix: s.FLEETCMD_PREFIX,
    logLevel: s.LOG_LEVEL,
    agentRedis:
      s.FLEETCMD_AGENT_REDIS_URL !== undefined
        ? { kind: 'url' as const, url: s.FLEETCMD_AGENT_REDIS_URL }
        : redisTarget(s),
    registerRateLimit: s.FLEETCMD_REGISTER_RATE_LIMIT,
    trustProxy: s.FLEETCMD_TRUST_PROXY,
    stateDir: s.FLEETCMD_STATE_DIR,
    tls: tlsFiles(s.FLEETCMD_TLS_CERT, s.FLEETCMD_TLS_KEY),
    caFile: s.FLEETCMD_CA,
  });
}

export const NODE_ID_RE = ID_RE;
