import { readFile } from 'node:fs/promises';
import type { Server as TlsServer } from 'node:tls';
import type { FastifyInstance } from 'fastify';
import type { RedisClient } from '../store/redis.js';
import type { Config } from '../shared/config.js';
import { ConfigError } from '../shared/config.js';
import { Metrics } from '../api/plugins/metrics.js';
import { buildOpsServer, buildServer } from '../api/server.js';
import { makeLogger, type Logger } from '../shared/log.js';
import { Scheduler } from '../scheduler/worker.js';
import { AccessKeyStore } from '../store/access-key-store.js';
import { AuditStore } from '../store/audit-store.js';
import { ActivationStore } from '../store/activation-store.js';
import { NodeCredentials } from '../store/node-acl.js';
import { CommandStore } from '../store/command-store.js';
import { InvocationStore } from '../store/invocation-store.js';
import { Keys } from '../store/keys.js';
import { NodeStore } from '../store/node-store.js';
import { NodeQueues, SchedulerQueue } from '../store/queues.js';
import {
  closeRedis,
  makeRedis,
  unlessRefused,
  waitReady,
  type ConnectionKind,
} from '../store/redis.js';
import { RefusalWatch } from '../store/refusal-watch.js';
import { credentialsRefused } from '../shared/redis-target.js';
import { settleWithin } from '../shared/settle.js';
import { startTracing, stopTracing } from '../shared/telemetry.js';
import type { Running } from '../shared/running.js';
import { RunStore } from '../store/run-store.js';
import { pauseInFire } from '../scheduler/test-pause.js';
import { readRedisFacts } from '../store/redis-facts.js';
import { redisWarnings } from '../domain/redis-fitness.js';
import { EventStore } from '../store/event-store.js';
import { EventRelay } from '../scheduler/event-relay.js';
import { retireWhenFinished } from '../app/timed-finished.js';
import { Webhooks } from '../scheduler/webhooks.js';
import { WebhookStore } from '../store/webhook-store.js';
import { WebhookQueue } from '../store/queues.js';
import { InvocationHeads, runsEnded } from '../app/rollout.js';

/** Closes resources last-in-first-out; each step is bounded so shutdown always ends. */
class Closer {
  private readonly steps: (() => Promise<unknown>)[] = [];
  private closed = false;

  /** Adds a step; once closed (a start given up while a part was still starting), runs it. */
  push(step: () => Promise<unknown>): void {
    if (this.closed) void settleWithin(step(), 5_000);
    else this.steps.push(step);
  }

  async close(timeoutMs: number): Promise<void> {
    this.closed = true;
    const deadline = Date.now() + timeoutMs;
    for (let step = this.steps.pop(); step; step = this.steps.pop()) {
      await settleWithin(step(), Math.max(100, deadline - Date.now()));
    }
  }
}

/** What the server's parts share: key names, record lifetimes, and where they report. */
interface Shared {
  keys: Keys;
  retentionMs: number;
  eventsMaxLen: number;
  history: { maxRuns: number; maxAgeMs: number };
  logger: Logger;
  metrics: Metrics;
  /** A new connection to Redis, watched for refused credentials. */
  connect: (kind: ConnectionKind, name: string) => RedisClient;
}

/** Starts this replica's scheduler on its own connections (writes go through `writer`). */
async function startScheduler(
  config: Readonly<Config>,
  { keys, retentionMs, history, logger, metrics, connect }: Shared,
  workerConn: RedisClient,
  closer: Closer,
): Promise<void> {
  const subscriber = connect('subscriber', 'fleetcmd-announce');
  closer.push(() => closeRedis(subscriber));
  const writer = connect('writer', 'fleetcmd-scheduler-writer');
  closer.push(() => closeRedis(writer));
  const schedNodeQueues = new NodeQueues(workerConn, keys);
  closer.push(() => schedNodeQueues.close());
  const schedQueue = new SchedulerQueue(workerConn, keys);
  closer.push(() => schedQueue.close());
  const events = new EventStore(writer, keys, config.eventsMaxLen, retentionMs);
  const invocations = new InvocationStore(writer, keys, retentionMs);
  const runs = new RunStore(writer, keys, retentionMs, history, logger);
  const rolloutDeps = {
    runs,
    invocations,
    nodeQueues: schedNodeQueues,
    schedulerQueue: schedQueue,
    deliveryTimeoutSeconds: config.deliveryTimeoutSeconds,
    log: logger,
    heads: new InvocationHeads(invocations),
  };
  const relay = new EventRelay({
    events,
    nodes: new NodeStore(writer, keys, logger),
    conn: connect('relay', 'fleetcmd-event-relay'),
    log: logger,
    // Output groups and rollouts learn each run's end from its RunFinished (app/rollout.ts).
    onRunsEnded: (nodeId, ends) => runsEnded(nodeId, ends, rolloutDeps),
    // A stopped or over timed invocation retires once its last run's end is relayed.
    onFinishing: (invokeId) => retireWhenFinished(invokeId, { runs, events, invocations }),
  });
  const scheduler = new Scheduler({
    invocations,
    runs,
    events,
    nodes: new NodeStore(writer, keys, logger),
    nodeQueues: schedNodeQueues,
    schedulerQueue: schedQueue,
    deliveryTimeoutSeconds: config.deliveryTimeoutSeconds,
    nodeLostSeconds: config.nodeLostSeconds,
    concurrency: config.schedulerConcurrency,
    workerConnection: workerConn,
    subscriber,
    keys,
    log: logger,
    metrics,
    pauseInFire: config.testPauseInFire ? pauseInFire(config.testPauseInFire) : undefined,
  });
  // Registered before it starts: a start given up meanwhile (Redis refusing) closes its worker.
  closer.push(() => scheduler.close());
  await scheduler.start();
  relay.start();
  closer.push(() => relay.close());
  const webhookQueue = new WebhookQueue(writer, keys);
  closer.push(() => webhookQueue.close());
  const webhooks = new Webhooks({
    store: new WebhookStore(writer, keys),
    events,
    invocations,
    queue: webhookQueue,
    keys,
    workerConnection: workerConn,
    conn: connect('worker', 'fleetcmd-webhooks'),
    settings: { ...config.webhooks, concurrency: 8 },
    log: logger,
  });
  closer.push(() => webhooks.close());
  await webhooks.start();
}

/** The API's stores and queues, over its own connections (also what /readyz and /metrics read). */
function makeOps(
  { keys, retentionMs, eventsMaxLen, history, logger }: Shared,
  producer: RedisClient,
  enqueuer: RedisClient,
  closer: Closer,
) {
  const apiNodeQueues = new NodeQueues(enqueuer, keys);
  const schedulerQueue = new SchedulerQueue(enqueuer, keys);
  closer.push(() => schedulerQueue.close());
  closer.push(() => apiNodeQueues.close());
  return {
    invocations: new InvocationStore(producer, keys, retentionMs),
    runs: new RunStore(producer, keys, retentionMs, history, logger),
    nodes: new NodeStore(producer, keys, logger),
    nodeQueues: apiNodeQueues,
    schedulerQueue,
    events: new EventStore(producer, keys, eventsMaxLen, retentionMs),
  };
}

/** Logs each setting of Redis that does not fit the fleet (also shown by /readyz). */
function warnAboutRedis(producer: RedisClient, { keys, logger }: Shared): void {
  readRedisFacts(producer, keys)
    .then((facts) => {
      for (const w of facts.flatMap(redisWarnings)) logger.warn({ check: w.check }, w.message);
    })
    .catch((err: unknown) => logger.warn({ err: String(err) }, 'Redis settings not checked'));
}
const auditRetentionMs = (config: Readonly<Config>) => config.auditRetentionDays * 24 * 3600 * 1000;
interface TlsPair {
  cert: string;
  key: string;
}

async function readTls(files: { certFile: string; keyFile: string }): Promise<TlsPair> {
  try {
    const [cert, key] = await Promise.all([
      readFile(files.certFile, 'utf8'),
      readFile(files.keyFile, 'utf8'),
    ]);
    return { cert, key };
  } catch (err) {
    throw new ConfigError(`FLEETCMD_TLS_CERT / FLEETCMD_TLS_KEY: ${String(err)}`);
  }
}

/**
 * SIGHUP re-reads the certificate and key and gives them to the listening TLS server
 * (setSecureContext): new connections get the new certificate, open ones and the listener
 * stay. A pair that does not load is logged and the old one kept. Returns the unhook.
 */
function reloadTlsOnHup(
  app: FastifyInstance,
  files: { certFile: string; keyFile: string },
  log: Logger,
): () => Promise<void> {
  const onHup = () => {
    readTls(files)
      .then((pair) => {
        (app.server as unknown as TlsServer).setSecureContext(pair);
        log.info({ certFile: files.certFile }, 'TLS certificate reloaded (SIGHUP)');
      })
      .catch((err: unknown) =>
        log.error({ err: String(err) }, 'TLS certificate not reloaded; the old one is kept'),
      );
  };
  process.on('SIGHUP', onHup);
  return async () => void process.off('SIGHUP', onHup);
}

/**
 * Activations, RegisterNode and the nodes' Redis users, made with the API's own connection
 * (REDIS_URL's user needs the ACL commands: docs/enrollment.md).
 */
function enrollment(config: Readonly<Config>, keys: Keys, nodes: NodeStore, producer: RedisClient) {
  const activations = new ActivationStore(producer, keys);
  const nodeCredentials = new NodeCredentials(producer, keys);
  return {
    activations,
    nodeCredentials,
    enroll: {
      enroll: {
        activations,
        credentials: nodeCredentials,
        nodes,
        agentRedis: config.agentRedis,
        prefix: config.prefix,
      },
      perAddress: {
        max: config.registerRateLimit,
        windowSeconds: config.rateLimitWindowSeconds,
        nameSpace: keys.registerRateLimitNamespace(),
      },
    },
  };
}

/**
 * Every role listens: a scheduler-only replica serves its own latencies (and health) on the
 * operational routes, without the API.
 */
function buildApp(
  config: Readonly<Config>,
  { keys, logger, metrics, connect }: Shared,
  ops: ReturnType<typeof makeOps>,
  producer: RedisClient,
  https: TlsPair | undefined,
  redisRefusal: () => string | undefined,
): FastifyInstance {
  const fitness = async () => (await readRedisFacts(producer, keys)).flatMap(redisWarnings);
  const secure = https ? { https } : {};
  if (config.role === 'scheduler') {
    return buildOpsServer({
      ...ops,
      ...secure,
      redis: producer,
      redisRefusal,
      redisWarnings: fitness,
      log: logger,
      metrics,
      http: config.http,
    });
  }
  return buildServer({
    ...secure,
    ...ops,
    redisWarnings: fitness,
    commands: new CommandStore(producer, keys),
    audit: new AuditStore(producer, keys, auditRetentionMs(config)),
    deliveryTimeoutSeconds: config.deliveryTimeoutSeconds,
    inlineFanOutNodes: config.inlineFanOutNodes,
    minIntervalSeconds: config.minIntervalSeconds,
    clock: () => Date.now(),
    allowSetuidFiles: config.allowSetuidFiles,
    http: config.http,
    redis: producer,
    redisRefusal,
    apiToken: config.insecureNoAuth ? undefined : config.apiToken,
    apiTokens: config.insecureNoAuth ? [] : config.apiTokens,
    rateLimit: {
      max: config.rateLimit,
      windowSeconds: config.rateLimitWindowSeconds,
      nameSpace: keys.rateLimitNamespace(),
    },
    accessKeys: new AccessKeyStore(producer, keys, config.accessKeys),
    eventsConnection: () => connect('worker', 'fleetcmd-events'),
    log: logger,
    metrics,
    trustProxy: config.trustProxy,
    ...enrollment(config, keys, ops.nodes, producer),
    webhooks: {
      store: new WebhookStore(producer, keys),
      max: config.webhooks.max,
      allowPrivate: config.webhooks.allowPrivate,
    },
  });
}

/** Starts the API and/or the scheduler per `config.role`. */
export async function startServer(config: Readonly<Config>, log?: Logger): Promise<Running> {
  const logger = log ?? makeLogger(config.logLevel, 'fleetcmd-server');
  if (config.apiToken === undefined && config.apiTokens.length === 0 && !config.insecureNoAuth) {
    throw new ConfigError(
      'FLEETCMD_API_TOKEN: the server needs a bearer token, or FLEETCMD_API_TOKENS (or pass --insecure-no-auth to run without one)',
    );
  }
  const refusals = watchRefusals(config, logger);
  const shared: Shared = {
    keys: new Keys(config.prefix),
    retentionMs: config.retentionSeconds * 1000,
    eventsMaxLen: config.eventsMaxLen,
    history: { maxRuns: config.historyRuns, maxAgeMs: config.historySeconds * 1000 },
    logger,
    // One registry per server: the scheduler's latencies are served by this process's /metrics.
    metrics: new Metrics(),
    connect: (kind, name) => refusals.watch.add(makeRedis(config.redis, kind, name), name),
  };
  const closer = new Closer();
  // Before any queue or worker is made: they take BullMQ's telemetry option when made.
  if (config.otlpEndpoint !== undefined) {
    await startTracing({ serviceName: 'fleetcmd-server' });
    closer.push(() => stopTracing());
  }
  let url: string | undefined;
  const abort = new AbortController();
  // A failed start (port taken, Redis refusing) must not leave connections or workers behind.
  try {
    // Refused credentials stop the start, named: one Redis fails the commands, but a cluster
    // client queues them and retries its slot map forever, so a start would wait for good.
    url = await unlessRefused(
      refusals.watch,
      startParts(config, shared, closer, { redisRefusal: refusals.current, signal: abort.signal }),
      (refusal) => new ConfigError(credentialsRefused(config.redis, refusal)),
    );
  } catch (err) {
    abort.abort();
    await closer.close(5_000);
    throw err;
  }
  refusals.started = true;
  logger.info({ role: config.role, url }, 'server started');
  return { url, close: () => closer.close(10_000) };
}

/**
 * The server's watch over its connections' refused credentials. Once started, a refusal (a user
 * removed, a password changed) does not stop the server, as an operator may be rotating them:
 * it is logged, and /readyz answers 503 with it until Redis accepts the credentials again.
 */
function watchRefusals(config: Readonly<Config>, logger: Logger) {
  const state = {
    started: false,
    watch: new RefusalWatch((refusal, connection) => {
      if (!state.started) return;
      if (refusal !== undefined)
        logger.error({ connection }, credentialsRefused(config.redis, refusal));
      else logger.info({ connection }, 'Redis accepts the credentials again');
    }),
    // /readyz answers without a token: Redis's refusal line, not the user's name (the log has it).
    current: () => {
      const refusal = state.watch.current();
      return refusal === undefined
        ? undefined
        : `Redis refused the server's credentials (${refusal}); the server's log names the user`;
    },
  };
  return state;
}

/**
 * Connects, starts the scheduler (per role) and the HTTP server; returns the URL served. Stops
 * between steps once `signal` says the start was given up.
 */
async function startParts(
  config: Readonly<Config>,
  shared: Shared,
  closer: Closer,
  { redisRefusal, signal }: { redisRefusal: () => string | undefined; signal: AbortSignal },
): Promise<string> {
  const producer = shared.connect('producer', 'fleetcmd-api');
  const enqueuer = shared.connect('enqueuer', 'fleetcmd-api-queues');
  const workerConn = shared.connect('worker', 'fleetcmd-scheduler');
  closer.push(() => closeRedis(producer));
  closer.push(() => closeRedis(enqueuer));
  closer.push(() => closeRedis(workerConn));
  // The API's connection fails fast while not connected: give it a moment to connect, so the
  // first requests after start do not answer 503 (if Redis is away, start anyway: /readyz).
  await Promise.all([waitReady(producer, 2_000), waitReady(enqueuer, 2_000)]).catch(
    () => undefined,
  );
  signal.throwIfAborted();
  const ops = makeOps(shared, producer, enqueuer, closer);
  warnAboutRedis(producer, shared);
  if (config.role !== 'api') await startScheduler(config, shared, workerConn, closer);
  const tls = config.tls ? await readTls(config.tls) : undefined;
  signal.throwIfAborted();
  const app = buildApp(config, shared, ops, producer, tls, redisRefusal);
  await app.listen({ port: config.port, host: config.host });
  if (config.tls) closer.push(reloadTlsOnHup(app, config.tls, shared.logger));
  closer.push(() => app.close());
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : config.port;
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  return `${config.tls ? 'https' : 'http'}://${host}:${port}`;
}
