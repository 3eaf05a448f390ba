import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { loadConfig, type Config, type RawSettings } from '../shared/config.js';
import { startServer } from '../server/main.js';
import type { Running } from '../shared/running.js';
import { Keys } from '../store/keys.js';
import { ActivationStore } from '../store/activation-store.js';
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
  // The agents all register from this machine's address: room for them within the limit.
  if (settings.FLEETCMD_REGISTER_RATE_LIMIT === undefined) {
    settings.FLEETCMD_REGISTER_RATE_LIMIT = String(opts.nodes + 20);
  }
  const config = loadConfig(settings);
  const log = makeLogger(config.logLevel, 'fleetcmd-dev');
  let server: Running | undefined;
  /** The agents' state directories (0700 each, made by the agents), removed by close. */
  let stateRoot: string | undefined;
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
    if (stateRoot !== undefined) await rm(stateRoot, { recursive: true, force: true });
  };
  try {
    server = await startServer(config, log);
    const url = server.url ?? '';
    const nodeIds = Array.from({ length: opts.nodes }, (_, i) => `n${i + 1}`);
    const keys = new Keys(config.prefix);
    // On dev's own redis-server the agents enroll as a real fleet does: one activation, traded
    // by each agent for its own node's ACL user (RegisterNode). On a Redis of the user's, dev
    // creates no users: the agents share dev's connection settings.
    const enroll = redis ? await devActivation(redisUrl, keys, opts.nodes) : undefined;
    if (enroll) stateRoot = await mkdtemp(join(tmpdir(), 'fleetcmd-dev-'));
    for (const id of nodeIds) {
      const how =
        enroll && stateRoot !== undefined
          ? { url, ...enroll, stateDir: join(stateRoot, id) }
          : { redisUrl };
      const { args, own } = agentCommand(id, config, how);
      const child = spawn(opts.self.execPath, [...opts.self.execArgv, opts.self.script, ...args], {
        // Built, not inherited: an agent holds no API token, access key or admin Redis password.
        env: agentEnv(process.env, opts.settings, own),
        stdio: ['ignore', 'inherit', 'inherit'],
        // Own process group: on Ctrl-C, dev stops the agents itself, before the server and Redis.
        detached: true,
      });
      agents.push(child);
    }
    await waitForNodes(redisUrl, keys, nodeIds, 30_000);
    return { url, token, redisUrl, nodeIds, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/** How a dev agent reaches Redis: registering with dev's activation, or dev's own URL. */
type AgentAccess =
  { url: string; activationId: string; code: string; stateDir: string } | { redisUrl: string };

/** A dev agent's arguments (after the CLI's script) and its own settings. */
function agentCommand(
  id: string,
  config: Readonly<Config>,
  how: AgentAccess,
): { args: string[]; own: Record<string, string> } {
  const args = ['agent', '--node-id', id];
  const own: Record<string, string> = {
    FLEETCMD_PREFIX: config.prefix,
    FLEETCMD_HEARTBEAT_SECONDS: String(config.heartbeatSeconds),
    LOG_LEVEL: config.logLevel,
  };
  if ('redisUrl' in how) {
    return {
      args,
      own: { ...own, REDIS_URL: how.redisUrl, FLEETCMD_ALLOW_SHARED_CREDENTIALS: 'true' },
    };
  }
  args.push('--register', '--url', how.url, '--activation-id', how.activationId);
  args.push('--state-dir', how.stateDir);
  // The agents run on this machine: plain HTTP to the server's address stays on it.
  if (how.url.startsWith('http:')) args.push('--insecure-http');
  // In the environment (readable by dev's user only), not on the command line.
  return { args, own: { ...own, FLEETCMD_ACTIVATION_CODE: how.code } };
}

/**
 * The activation dev's agents register with: one place per agent, from this machine only,
 * for an hour (an agent that comes back later starts from its state file).
 */
async function devActivation(
  redisUrl: string,
  keys: Keys,
  nodes: number,
): Promise<{ activationId: string; code: string }> {
  const admin = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  try {
    return await new ActivationStore(admin, keys).create({
      description: 'fleetcmd dev agents',
      instanceCount: nodes,
      instanceName: '',
      ttlHours: 1,
      ipAddressRange: '127.0.0.0/8',
    });
  } finally {
    admin.disconnect();
  }
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
