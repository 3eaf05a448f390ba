import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { after, before } from 'node:test';
import { Cluster, Redis } from 'ioredis';
import { findOnPath } from '../../src/shared/on-path.js';
import { startPrivateRedis, type PrivateRedis } from '../../src/dev/private-redis.js';
import type { RedisTarget } from '../../src/shared/redis-target.js';
import { eachServer, waitReady, type RedisClient } from '../../src/store/redis.js';
import { startLocalCluster, type LocalCluster } from './redis-cluster.js';

/**
 * Whether this run is against a local Redis Cluster (`npm run test:cluster`): every test file
 * that takes its Redis from here then gets a 3-master cluster of its own instead.
 */
export const ON_CLUSTER = process.env.FLEETCMD_TEST_CLUSTER === '1';

/**
 * node:test's `skip` option for a test or describe that needs one Redis of its own (it
 * restarts, freezes or reconfigures it, or starts `fleetcmd dev`'s redis-server): on the cluster
 * the reason, shown as the test's skip reason in the run's summary; otherwise undefined (it runs).
 */
export function singleRedisOnly(why: string): string | undefined {
  return ON_CLUSTER ? `needs a single Redis: ${why}` : undefined;
}

/**
 * Where tests get Redis, in this order: with FLEETCMD_TEST_CLUSTER=1 a private 3-master Redis
 * Cluster (test/helpers/redis-cluster.ts); REDIS_URL if set; else a private redis-server child
 * on a free port (one per test file's process, stopped when the file ends); else a
 * testcontainers Redis where a Docker engine exists. Tests never touch the machine's shared
 * 127.0.0.1:6379.
 */
let shared: Promise<{ target: RedisTarget; stop: () => Promise<void> }> | undefined;

async function provision(): Promise<{ target: RedisTarget; stop: () => Promise<void> }> {
  if (ON_CLUSTER) {
    const c = await startLocalCluster(3);
    process.once('exit', () => {
      for (const s of c.servers) s.process.kill('SIGKILL');
      for (const s of c.servers) rmSync(s.dir, { recursive: true, force: true });
    });
    return { target: c.target, stop: c.stop };
  }
  const single = await provisionSingle();
  return { target: { kind: 'url', url: single.url }, stop: single.stop };
}

async function provisionSingle(): Promise<{ url: string; stop: () => Promise<void> }> {
  if (process.env.REDIS_URL) return { url: process.env.REDIS_URL, stop: async () => undefined };
  if ((await findOnPath('redis-server')) !== undefined) {
    const r: PrivateRedis = await startPrivateRedis();
    // The file's process may end at any moment after its last test: kill the child then, and
    // remove its directory (which holds the server's password).
    process.once('exit', () => {
      r.process.kill('SIGKILL');
      rmSync(r.dir, { recursive: true, force: true });
    });
    return { url: r.url, stop: r.stop };
  }
  const { RedisContainer } = await import('@testcontainers/redis');
  const c = await new RedisContainer('redis:7')
    .withCommand(['redis-server', '--hz', '100'])
    .start();
  return { url: c.getConnectionUrl(), stop: async () => void (await c.stop()) };
}

/** The test run's Redis: a URL, or the local cluster. */
export async function redisTarget(): Promise<RedisTarget> {
  shared ??= provision();
  return (await shared).target;
}

/**
 * The URL of the test run's single Redis. On the cluster there is none: a test that needs one
 * (it restarts or reconfigures its Redis, or talks to one server) fails here, naming why.
 */
export async function redisUrl(): Promise<string> {
  const target = await redisTarget();
  if (target.kind === 'url') return target.url;
  throw new Error(
    'this test needs a single Redis (REDIS_URL); it cannot run on the cluster (FLEETCMD_TEST_CLUSTER=1)',
  );
}

/** A client of the test run's Redis (a Cluster client on the cluster): for assertions. */
export function clientOf(target: RedisTarget): RedisClient {
  if (target.kind === 'url') return new Redis(target.url, { maxRetriesPerRequest: 2 });
  return new Cluster(
    target.nodes.map((n) => ({ host: n.host, port: n.port })),
    {
      redisOptions: {
        ...(target.username !== undefined ? { username: target.username } : {}),
        ...(target.password !== undefined ? { password: target.password } : {}),
        maxRetriesPerRequest: 2,
      },
    },
  );
}

/**
 * A local 3-master cluster of the calling describe block's own (in both test modes), with an
 * admin Cluster client of it: started before its tests, both stopped after. Read them through
 * the getters, inside hooks and tests.
 */
export function useLocalCluster(): { cluster: () => LocalCluster; admin: () => Cluster } {
  let cluster: LocalCluster | undefined;
  let admin: Cluster | undefined;
  before(async () => {
    cluster = await startLocalCluster(3);
    admin = clientOf(cluster.target) as Cluster;
  });
  after(async () => {
    admin?.disconnect();
    await cluster?.stop();
  });
  const started = <T>(v: T | undefined): T => {
    if (v === undefined) throw new Error('useLocalCluster: read in a hook or a test');
    return v;
  };
  return { cluster: () => started(cluster), admin: () => started(admin) };
}

/**
 * `fn` on each server of the client (every server of a cluster, masters and replicas): for
 * what is per server, such as ACL LOG.
 */
export async function onEachServer<T>(r: RedisClient, fn: (server: Redis) => Promise<T>) {
  // A cluster client knows its servers once connected: before, its list is empty.
  if (r instanceof Cluster) await waitReady(r, 30_000);
  return Promise.all(eachServer(r).map(fn));
}

/** A key prefix no other test uses. */
export function freshPrefix(): string {
  return `t${randomBytes(5).toString('hex')}`;
}

/** A plain client for assertions; closed by the caller (or `after`). */
export async function rawRedis(): Promise<RedisClient> {
  const r = clientOf(await redisTarget());
  after(() => r.disconnect());
  return r;
}

/** Every key under a prefix (tests use small data sets); on a cluster, of every master. */
export async function keysUnder(r: RedisClient, prefix: string): Promise<string[]> {
  const out: string[] = [];
  if (r instanceof Cluster) await waitReady(r, 30_000);
  for (const server of r instanceof Cluster ? r.nodes('master') : [r]) {
    let cursor = '0';
    do {
      const [next, batch] = await server.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      out.push(...batch);
    } while (cursor !== '0');
  }
  return out.sort();
}
