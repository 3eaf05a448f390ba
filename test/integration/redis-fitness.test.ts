/**
 * The server's check of Redis's settings against the fleet (maxclients, maxmemory-policy), as
 * /readyz shows it, against a private redis-server whose settings the test changes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { startPrivateRedis, type PrivateRedis } from '../../src/dev/private-redis.js';
import { makeStack, type Stack } from '../helpers/stack.js';
import { freshPrefix, useLocalCluster } from '../helpers/redis.js';
import { readRedisFacts } from '../../src/store/redis-facts.js';
import { redisWarnings } from '../../src/domain/redis-fitness.js';
import { eachServer, type RedisClient } from '../../src/store/redis.js';
import { Keys } from '../../src/store/keys.js';

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

void describe('Redis settings on a cluster: every server is checked', () => {
  const local = useLocalCluster();
  const keys = new Keys(freshPrefix());

  void it('names the master whose maxmemory-policy or maxclients does not fit', async () => {
    const client: RedisClient = local.admin();
    await client.sadd(keys.nodeRegistry(), ...Array.from({ length: 40 }, (_, i) => `fit-${i}`));
    assert.deepEqual((await readRedisFacts(client, keys)).flatMap(redisWarnings), []);
    // A master that does not hold the registry's slot: a check of that one server alone
    // (as before) would not see it.
    const registryPort = Number(
      (
        (client as unknown as { slots: string[][] }).slots[
          Number(await client.call('CLUSTER', 'KEYSLOT', keys.nodeRegistry()))
        ]?.[0] ?? ''
      )
        .split(':')
        .at(-1),
    );
    const servers = eachServer(client);
    const other = servers.find((s) => s.options.port !== registryPort);
    assert.ok(other, `a master other than the registry's (${registryPort})`);
    await other.config('SET', 'maxmemory-policy', 'allkeys-lru');
    await other.config('SET', 'maxclients', '200');
    const warnings = (await readRedisFacts(client, keys)).flatMap(redisWarnings);
    const where = `Redis ${other.options.host}:${other.options.port}`;
    assert.deepEqual(
      warnings.map((w) => [w.check, w.message.startsWith(`${where} `)]),
      [
        ['maxclients', true],
        ['maxmemory-policy', true],
      ],
      JSON.stringify(warnings),
    );
    assert.match(warnings[0]?.message ?? '', /maxclients is 200, below the 220 that 40/);
  });
});
