/**
 * The server's check of Redis's settings against the fleet (maxclients, maxmemory-policy), as
 * /readyz shows it, against a private redis-server whose settings the test changes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { startPrivateRedis, type PrivateRedis } from '../../src/dev/private-redis.js';
import { makeStack, type Stack } from '../helpers/stack.js';

interface Ready {
  status: string;
  warnings?: { check: string; message: string }[];
}

void describe('Redis settings against the fleet (/readyz)', () => {
  let privateRedis: PrivateRedis;
  let stack: Stack;
  let admin: Redis;

  before(async () => {
    privateRedis = await startPrivateRedis();
    admin = new Redis(privateRedis.url);
    stack = await makeStack({ REDIS_URL: privateRedis.url });
  });
  after(async () => {
    await stack.close();
    admin.disconnect();
    await privateRedis.stop();
  });

  async function ready(): Promise<Ready> {
    const res = await fetch(`${stack.url}/readyz`);
    assert.equal(res.status, 200, 'a warning does not make the server unready');
    return (await res.json()) as Ready;
  }

  void it('shows no warning for a Redis that fits', async () => {
    await admin.config('SET', 'maxclients', '10000');
    await admin.config('SET', 'maxmemory-policy', 'noeviction');
    assert.deepEqual(await ready(), { status: 'ready' });
  });

  void it('warns when maxclients is below 3 x registered nodes + 100', async () => {
    const ids = Array.from({ length: 40 }, (_, i) => `fit-${i}`);
    await admin.sadd(stack.keys.nodeRegistry(), ...ids);
    await admin.config('SET', 'maxclients', '200');
    const body = await ready();
    assert.deepEqual(
      body.warnings?.map((w) => w.check),
      ['maxclients'],
    );
    assert.match(body.warnings?.[0]?.message ?? '', /maxclients is 200, below the 220 that 40/);
    await admin.config('SET', 'maxclients', '220');
    assert.deepEqual(await ready(), { status: 'ready' });
  });

  void it('warns when maxmemory-policy would evict keys', async () => {
    await admin.config('SET', 'maxmemory-policy', 'allkeys-lru');
    const body = await ready();
    assert.deepEqual(
      body.warnings?.map((w) => w.check),
      ['maxmemory-policy'],
    );
    assert.match(body.warnings?.[0]?.message ?? '', /allkeys-lru, not noeviction/);
    await admin.config('SET', 'maxmemory-policy', 'noeviction');
    assert.deepEqual(await ready(), { status: 'ready' });
  });
});
