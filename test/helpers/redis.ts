import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { after } from 'node:test';
import { Redis } from 'ioredis';
import { findOnPath } from '../../src/shared/on-path.js';
import { startPrivateRedis, type PrivateRedis } from '../../src/dev/private-redis.js';

/**
 * Where tests get Redis, in this order: REDIS_URL if set; else a private redis-server child on
 * a free port (one per test file's process, stopped when the file ends); else a testcontainers
 * Redis where a Docker engine exists. Tests never touch the machine's shared 127.0.0.1:6379.
 */
let shared: Promise<{ url: string; stop: () => Promise<void> }> | undefined;

async function provision(): Promise<{ url: string; stop: () => Promise<void> }> {
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

export async function redisUrl(): Promise<string> {
  shared ??= provision();
  return (await shared).url;
}

/** A key prefix no other test uses. */
export function freshPrefix(): string {
  return `t${randomBytes(5).toString('hex')}`;
}

/** A plain client for assertions; closed by the caller (or `after`). */
export async function rawRedis(): Promise<Redis> {
  const r = new Redis(await redisUrl(), { maxRetriesPerRequest: 2 });
  after(() => r.disconnect());
  return r;
}

/** Every key under a prefix (tests use small data sets). */
export async function keysUnder(r: Redis, prefix: string): Promise<string[]> {
  const out: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await r.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    out.push(...batch);
  } while (cursor !== '0');
  return out.sort();
}
