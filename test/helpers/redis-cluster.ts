import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort, killWithParent } from '../../src/dev/private-redis.js';
import type { ClusterTarget } from '../../src/shared/redis-target.js';

/** One redis-server of a local cluster: its port and data directory outlive its process. */
export interface ClusterServer {
  port: number;
  dir: string;
  process: ChildProcess;
}

/** A local Redis Cluster of `masters` redis-servers (no replicas), all on loopback. */
export interface LocalCluster {
  target: ClusterTarget;
  password: string;
  servers: ClusterServer[];
  /** SIGKILLs server `i` and waits for its exit; its directory (AOF, nodes.conf) stays. */
  kill(i: number): Promise<void>;
  /** Starts server `i` again on its port and directory, and waits for cluster_state:ok. */
  restart(i: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The server's config file (0600 in its 0700 directory: it holds the password). AOF is on, so
 * a server killed and started again on its directory keeps its data (the failover drill).
 */
async function writeConfig(dir: string, password: string, port: number, busPort: number) {
  const file = join(dir, 'redis.conf');
  const lines = [
    `requirepass ${password}`,
    `masterauth ${password}`,
    `port ${port}`,
    // An explicit bus port: port + 10000 may be past 65535 or taken.
    `cluster-port ${busPort}`,
    'bind 127.0.0.1',
    'cluster-enabled yes',
    'cluster-config-file nodes.conf',
    'cluster-node-timeout 2000',
    'appendonly yes',
    'appendfsync always',
    'save ""',
    `dir ${dir}`,
    'hz 100',
    'maxmemory-policy noeviction',
  ];
  await writeFile(file, `${lines.join('\n')}\n`, { mode: 0o600 });
  return file;
}

function launch(dir: string): ChildProcess {
  const child = spawn('redis-server', [join(dir, 'redis.conf')], {
    stdio: 'ignore',
    detached: true,
  });
  child.unref();
  // Gone with this process, however it ends (a SIGKILLed test run left servers behind).
  killWithParent(child);
  return child;
}

/** Waits until `check` holds, polling; fails after `timeoutMs` naming `what`. */
async function until(what: string, check: () => Promise<boolean>, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`local cluster: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function onServer<T>(port: number, password: string, fn: (r: Redis) => Promise<T>) {
  const r = new Redis({
    port,
    host: '127.0.0.1',
    password,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  r.on('error', () => undefined);
  try {
    await r.connect();
    return await fn(r);
  } finally {
    r.disconnect();
  }
}

const stateOk = (port: number, password: string) =>
  onServer(port, password, async (r) =>
    /cluster_state:ok/.test(String(await r.call('CLUSTER', 'INFO'))),
  );

/**
 * Starts `masters` cluster-enabled redis-servers in temporary directories, joins them with
 * `redis-cli --cluster create` (slots split evenly, no replicas) and waits until every server
 * says cluster_state:ok. The password goes to redis-cli through REDISCLI_AUTH, never argv.
 */
export async function startLocalCluster(masters = 3): Promise<LocalCluster> {
  const password = randomBytes(32).toString('base64url');
  const servers: ClusterServer[] = [];
  const stopAll = async () => {
    await Promise.all(servers.map((s) => killServer(s)));
    await Promise.all(servers.map((s) => rm(s.dir, { recursive: true, force: true })));
  };
  try {
    for (let i = 0; i < masters; i++) {
      const dir = await mkdtemp(join(tmpdir(), 'fleetcmd-cluster-'));
      const [port, busPort] = [await freePort(), await freePort()];
      await writeConfig(dir, password, port, busPort);
      servers.push({ port, dir, process: launch(dir) });
    }
    for (const s of servers) {
      await until(`redis-server on ${s.port}`, () =>
        onServer(s.port, password, async (r) => (await r.ping()) === 'PONG'),
      );
    }
    const create = spawn(
      'redis-cli',
      [
        '--cluster',
        'create',
        ...servers.map((s) => `127.0.0.1:${s.port}`),
        '--cluster-replicas',
        '0',
        '--cluster-yes',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, REDISCLI_AUTH: password } },
    );
    let stderr = '';
    create.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const [code] = (await once(create, 'exit')) as [number | null];
    if (code !== 0) throw new Error(`redis-cli --cluster create exited ${code}: ${stderr}`);
    for (const s of servers)
      await until(`cluster_state:ok on ${s.port}`, () => stateOk(s.port, password));
  } catch (err) {
    await stopAll();
    throw err;
  }
  const cluster: LocalCluster = {
    target: {
      kind: 'cluster',
      nodes: servers.map((s) => ({ host: '127.0.0.1', port: s.port })),
      password,
      tls: false,
    },
    password,
    servers,
    kill: async (i) => killServer(servers[i]!),
    async restart(i) {
      const s = servers[i]!;
      s.process = launch(s.dir);
      for (const t of servers) {
        await until(`cluster_state:ok on ${t.port}`, () => stateOk(t.port, password));
      }
    },
    stop: stopAll,
  };
  return cluster;
}

async function killServer(s: ClusterServer): Promise<void> {
  const child = s.process;
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.ref();
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;
}
