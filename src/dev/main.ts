import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { loadConfig, type RawSettings } from '../shared/config.js';
import { startServer } from '../server/main.js';
import type { Running } from '../shared/running.js';
import { Keys } from '../store/keys.js';
import { nodeUserUrl, setNodeUser } from '../store/node-acl.js';
import { findOnPath } from '../shared/on-path.js';
import { startPrivateRedis, type PrivateRedis } from './private-redis.js';
import { agentEnv } from './agent-env.js';
import { makeLogger } from '../shared/log.js';

export interface DevOptions {
  nodes: number;
  settings: RawSettings;
  /** The command that starts this CLI again (for the agent children). */
  self: { execPath: string; execArgv: string[]; script: string };
}

export interface DevStack {
  url: string;
  token: string;
  redisUrl: string;
  nodeIds: string[];
  close(): Promise<void>;
}

/**
 * A whole local stack for a newcomer: a private redis-server (when REDIS_URL is not set),
 * one server, and N agents as child processes (n1, n2, ...).
 */
export async function startDev(opts: DevOptions): Promise<DevStack> {
  let redis: PrivateRedis | undefined;
  let redisUrl = typeof opts.settings.REDIS_URL === 'string' ? opts.settings.REDIS_URL : undefined;
  if (!redisUrl) {
    if ((await findOnPath('redis-server')) === undefined) {
      throw new Error(
        'fleetcmd dev needs REDIS_URL or a redis-server on PATH (apt-get install redis-server)',
      );
    }
    redis = await startPrivateRedis();
    redisUrl = redis.url;
  }
  const token =
    typeof opts.settings.FLEETCMD_API_TOKEN === 'string' && opts.settings.FLEETCMD_API_TOKEN !== ''
      ? opts.settings.FLEETCMD_API_TOKEN
      : randomBytes(18).toString('base64url');
  const settings: RawSettings = {
    ...opts.settings,
    REDIS_URL: redisUrl,
    FLEETCMD_API_TOKEN: token,
  };
  if (settings.FLEETCMD_HOST === undefined) settings.FLEETCMD_HOST = '127.0.0.1';
  const config = loadConfig(settings);
  const log = makeLogger(config.logLevel, 'fleetcmd-dev');
  let server: Running | undefined;
  const agents: ChildProcess[] = [];
  const close = async () => {
    await Promise.all(
      agents.map(
        (a) =>
          new Promise<void>((resolve) => {
            if (a.exitCode !== null || a.signalCode !== null) return resolve();
            a.once('exit', () => resolve());
            a.kill('SIGTERM');
          }),
      ),
    );
    await server?.close();
    await redis?.stop();
  };
  try {
    server = await startServer(config, log);
    const nodeIds = Array.from({ length: opts.nodes }, (_, i) => `n${i + 1}`);
    const agentUrls = await agentRedisUrls(redisUrl, new Keys(config.prefix), nodeIds, !!redis);
    for (const id of nodeIds) {
      const agentUrl = agentUrls.get(id);
      const child = spawn(
        opts.self.execPath,
        [...opts.self.execArgv, opts.self.script, 'agent', '--node-id', id],
        {
          // Built, not inherited: an agent holds no API token, access key or admin Redis password.
          env: agentEnv(process.env, opts.settings, {
            REDIS_URL: agentUrl ?? redisUrl,
            FLEETCMD_PREFIX: config.prefix,
            FLEETCMD_HEARTBEAT_SECONDS: String(config.heartbeatSeconds),
            LOG_LEVEL: config.logLevel,
            // On a Redis of the user's, the agents share dev's connection settings.
            ...(agentUrl === undefined ? { FLEETCMD_ALLOW_SHARED_CREDENTIALS: 'true' } : {}),
          }),
          stdio: ['ignore', 'inherit', 'inherit'],
          // Own process group: on Ctrl-C, dev stops the agents itself, before the server and Redis.
          detached: true,
        },
      );
      agents.push(child);
    }
    await waitForNodes(redisUrl, new Keys(config.prefix), nodeIds, 30_000);
    return { url: server.url ?? '', token, redisUrl, nodeIds, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/**
 * On dev's own redis-server each agent gets its own ACL user, as a real fleet should (see
 * `fleetcmd node add`); on a Redis of the user's, dev creates no users and returns none.
 */
async function agentRedisUrls(
  redisUrl: string,
  keys: Keys,
  nodeIds: string[],
  ownRedis: boolean,
): Promise<Map<string, string>> {
  const urls = new Map<string, string>();
  if (!ownRedis) return urls;
  const admin = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  try {
    for (const id of nodeIds) {
      urls.set(id, nodeUserUrl(redisUrl, await setNodeUser(admin, keys, id)));
    }
  } finally {
    admin.disconnect();
  }
  return urls;
}

async function waitForNodes(
  url: string,
  keys: Keys,
  ids: string[],
  timeoutMs: number,
): Promise<void> {
  const r = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const n = await Promise.all(ids.map((id) => r.exists(keys.nodeInfo(id))));
      if (n.every((x) => x === 1)) return;
      if (Date.now() > deadline)
        throw new Error(`agents ${ids.join(', ')} did not register within ${timeoutMs} ms`);
      await new Promise((res) => setTimeout(res, 100));
    }
  } finally {
    r.disconnect();
  }
}
