/**
 * A local stack for benchmarks: a private redis-server (hz 100), the server in this process and
 * one agent child process per node id, with a small API caller.
 *
 * Agents run either as production runs them, `node bin/fleetcmd.js agent` on the compiled
 * dist/ (`agents: 'dist'`, built first when a source is newer than its output), or from the
 * sources through tsx (`'tsx'`, the default: no build, but the tsx loader adds a thread and
 * memory to every agent, and memory slows spawning, SPEC §6).
 * With no node ids it starts no agents (bring your own, e.g. bench/sim-agents.ts).
 * With `cluster: true` the Redis is a private 3-master Redis Cluster started as the test harness
 * starts one (test/helpers/redis-cluster.ts), and everything connects with REDIS_CLUSTER_NODES.
 *
 * The API caller (`call`) is node:http with a keep-alive agent, in this process: its CPU is
 * counted with the server's by bench/cost.ts and competes with it for this event loop, yet it
 * is load generator, not fleetcmd's cost. Global fetch (undici) cost about twice as much CPU per
 * call here (WHATWG streams, header lists, several event-loop turns per answer), which also
 * delayed answers behind an in-process fan-out.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { join, relative } from 'node:path';
import { Redis } from 'ioredis';
import { loadConfig } from '../src/shared/config.js';
import { makeLogger } from '../src/shared/log.js';
import { startServer } from '../src/server/main.js';
import { startPrivateRedis } from '../src/dev/private-redis.js';
import { Keys } from '../src/store/keys.js';
import { makeRedis, waitReady, type RedisClient } from '../src/store/redis.js';
import type { RedisTarget } from '../src/shared/redis-target.js';
import { startLocalCluster, type LocalCluster } from '../test/helpers/redis-cluster.js';
import { Cleanup, exited, killGroup, REPO, sleep, spawnLogged, tail } from './processes.js';

export interface BenchStackOptions {
  /** How the agents run (see above). @default 'tsx' */
  agents?: 'dist' | 'tsx';
  /** Extra environment of the agents (FLEETCMD_AGENT_CONCURRENCY, LOG_LEVEL, NODE_OPTIONS). */
  agentEnv?: Record<string, string>;
  /** Node options before the agent's script, e.g. `--cpu-prof` (not allowed in NODE_OPTIONS). */
  agentNodeArgs?: string[];
  /** Where agent logs go (`agent-<id>.log`); without it their output is dropped. */
  logDir?: string;
  /**
   * Registers the stack's shutdown, so a failure or Ctrl-C also stops it. Without it the stack
   * registers with this module's own Cleanup, which runs on SIGINT/SIGTERM (`npm run bench`
   * stops an overdue benchmark with SIGTERM: its redis-server and agents, in process groups of
   * their own, would outlive it otherwise).
   */
  cleanup?: Cleanup;
  /**
   * Another stack's redis-server to use (with a prefix of its own) instead of starting one;
   * that stack's close() stops it.
   */
  redisOf?: BenchStack;
  /** A private local 3-master Redis Cluster instead of one redis-server (not with redisOf). */
  cluster?: boolean;
  /** The private redis-server's `hz` (not with redisOf or cluster). @default Redis's own, 10 */
  hz?: number;
  /** Extra settings of the in-process server (FLEETCMD_MIN_INTERVAL_SECONDS, ...). */
  serverEnv?: Record<string, string>;
}

/** The environment that points fleetcmd (server, agent, CLI) at a Redis target. */
export function redisEnv(target: RedisTarget): Record<string, string> {
  if (target.kind === 'url') return { REDIS_URL: target.url };
  return {
    REDIS_CLUSTER_NODES: target.nodes.map((n) => `${n.host}:${n.port}`).join(','),
    ...(target.username !== undefined ? { REDIS_USERNAME: target.username } : {}),
    ...(target.password !== undefined ? { REDIS_PASSWORD: target.password } : {}),
  };
}

/**
 * A connection to each master of the target (one for a single Redis), for INFO: the caller
 * disconnects them.
 */
export async function eachMaster(target: RedisTarget): Promise<Redis[]> {
  if (target.kind === 'url') return [new Redis(target.url)];
  const cluster = makeRedis(target, 'worker', 'bench-probe');
  try {
    await waitReady(cluster, 10_000);
    return cluster
      .nodes('master')
      .map((m) => new Redis({ ...m.options, connectionName: 'bench-probe', lazyConnect: false }));
  } finally {
    cluster.disconnect();
  }
}

export interface BenchStack {
  /** The single Redis's URL ('' on a cluster: use `target`). */
  redisUrl: string;
  /** Where this stack's Redis is (a URL or the cluster). */
  target: RedisTarget;
  /** The environment that points a fleetcmd process at it (REDIS_URL or REDIS_CLUSTER_NODES). */
  env: Record<string, string>;
  /** The API's address and bearer token, for clients in other processes (the CLI). */
  url: string;
  token: string;
  /** This stack's long-lived processes: redis-server and the agents (not this process). */
  pids(): number[];
  prefix: string;
  agents: ChildProcess[];
  /** This stack's redis-server, for another stack to share (`redisOf`). */
  redis: { url: string; pid: number | undefined };
  /** The local cluster's servers (with `cluster: true`). */
  cluster?: LocalCluster;
  call(action: string, body: unknown): Promise<Record<string, unknown>>;
  close(): Promise<void>;
}

async function newestMtime(dir: string, ext: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith(ext)) continue;
    const file = join(entry.parentPath, entry.name);
    out.set(relative(REPO, file).slice(0, -ext.length), (await stat(file)).mtimeMs);
  }
  return out;
}

/** Runs `npm run build` unless every source under src/ and workers/ is older than its output. */
export async function ensureBuilt(): Promise<void> {
  const compiled = await newestMtime(join(REPO, 'dist'), '.js').catch(() => new Map());
  let stale = false;
  for (const dir of ['src', 'workers']) {
    for (const [name, ms] of await newestMtime(join(REPO, dir), '.ts')) {
      if ((compiled.get(`dist/${name}`) ?? 0) < ms) stale = true;
    }
  }
  if (!stale) return;
  console.error('dist/ is older than the sources: npm run build');
  const code = await new Promise<number | null>((resolve) =>
    spawn('npm', ['run', '--silent', 'build'], { cwd: REPO, stdio: 'inherit' }).once(
      'exit',
      resolve,
    ),
  );
  if (code !== 0) throw new Error(`npm run build failed (exit ${String(code)})`);
}

/** Waits until every node id is in the server's node registry (agents join once ready). */
export async function waitRegistered(
  redis: string | RedisTarget,
  prefix: string,
  nodeIds: readonly string[],
  agents: readonly ChildProcess[],
  logs: readonly string[] = [],
): Promise<void> {
  const keys = new Keys(prefix);
  const probe: RedisClient =
    typeof redis === 'string'
      ? new Redis(redis, { maxRetriesPerRequest: 1 })
      : makeRedis(redis, 'worker', 'bench-probe');
  try {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const known = await Promise.all(nodeIds.map((n) => probe.sismember(keys.nodeRegistry(), n)));
      if (known.every((k) => k === 1)) return;
      const dead = agents.findIndex(exited);
      if (dead >= 0 || Date.now() > deadline) {
        const log = logs[Math.max(0, dead)];
        throw new Error(`agent did not register${log ? `:\n${await tail(log)}` : ''}`);
      }
      await sleep(50);
    }
  } finally {
    probe.disconnect();
  }
}

interface Caller {
  agent: Agent;
  host: string;
  port: number;
  authorization: string;
}

/** POSTs a JSON body and answers the JSON the server sent back (whatever its status). */
function post(c: Caller, path: string, body: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        agent: c.agent,
        host: c.host,
        port: c.port,
        path,
        method: 'POST',
        headers: {
          authorization: c.authorization,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (b: Buffer) => chunks.push(b));
        res.on('error', reject);
        res.on('end', () => {
          try {
            resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>);
          } catch (err) {
            reject(err instanceof Error ? err : new Error(String(err)));
          }
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** The Cleanup of stacks started without one (see BenchStackOptions.cleanup), made on first use. */
let ownCleanup: Cleanup | undefined;

function defaultCleanup(): Cleanup {
  if (!ownCleanup) {
    ownCleanup = new Cleanup();
    ownCleanup.onSignals();
  }
  return ownCleanup;
}

export async function startBenchStack(
  prefix: string,
  nodeIds: string[],
  opts: BenchStackOptions = {},
): Promise<BenchStack> {
  if (opts.agents === 'dist') await ensureBuilt();
  const cleanup = opts.cleanup ?? defaultCleanup();
  const shared = opts.redisOf?.redis;
  const cluster = opts.cluster ? await startLocalCluster(3) : undefined;
  const own =
    shared || cluster
      ? undefined
      : await startPrivateRedis(opts.hz !== undefined ? { hz: opts.hz } : {});
  const redis = shared ?? { url: own?.url ?? '', pid: own?.process.pid };
  const releaseRedis = cleanup.defer(`redis ${prefix}`, async () => {
    await own?.stop();
    await cluster?.stop();
  });
  const target: RedisTarget = cluster?.target ?? { kind: 'url', url: redis.url };
  const token = randomBytes(12).toString('hex');
  const env = {
    ...redisEnv(target),
    FLEETCMD_PREFIX: prefix,
    LOG_LEVEL: 'warn',
    FLEETCMD_ALLOW_SHARED_CREDENTIALS: 'true',
  };
  const server = await startServer(
    loadConfig({
      ...env,
      FLEETCMD_API_TOKEN: token,
      PORT: '0',
      FLEETCMD_HOST: '127.0.0.1',
      ...opts.serverEnv,
    }),
    makeLogger('warn', 'bench'),
  );
  const releaseServer = cleanup.defer(`server ${prefix}`, () => server.close());
  const entry =
    opts.agents === 'dist' ? ['bin/fleetcmd.js'] : ['--import', 'tsx', 'src/cli/main.ts'];
  const agents: ChildProcess[] = [];
  const releaseAgents = cleanup.defer(`agents ${prefix}`, () =>
    Promise.all(agents.map((a) => killGroup(a, 5_000))),
  );
  const logs = nodeIds.map((id) =>
    opts.logDir ? join(opts.logDir, `agent-${id}.log`) : '/dev/null',
  );
  for (const [i, id] of nodeIds.entries()) {
    agents.push(
      spawnLogged(
        [...(opts.agentNodeArgs ?? []), ...entry, 'agent', '--node-id', id],
        { ...env, ...opts.agentEnv },
        logs[i] ?? '',
      ),
    );
  }
  await waitRegistered(target, prefix, nodeIds, agents, opts.logDir ? logs : []);
  const url = new URL(String(server.url));
  const caller: Caller = {
    agent: new Agent({ keepAlive: true }),
    host: url.hostname,
    port: Number(url.port),
    authorization: `Bearer ${token}`,
  };
  return {
    redisUrl: redis.url,
    target,
    env: redisEnv(target),
    ...(cluster ? { cluster } : {}),
    url: String(server.url),
    token,
    pids: () =>
      [
        redis.pid,
        ...(cluster?.servers.map((c) => c.process.pid) ?? []),
        ...agents.map((a) => a.pid),
      ].filter((p): p is number => p !== undefined),
    prefix,
    agents,
    redis,
    call: (action, body) => post(caller, `/v1/${action}`, JSON.stringify(body)),
    async close() {
      caller.agent.destroy();
      await releaseAgents();
      await releaseServer();
      await releaseRedis();
    },
  };
}
