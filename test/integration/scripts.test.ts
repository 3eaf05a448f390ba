import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AgentStore } from '../../src/store/agent-store.js';
import { Keys } from '../../src/store/keys.js';
import { makeRedis, type RedisClient } from '../../src/store/redis.js';
import { loadScripts } from '../../src/store/scripts.js';
import { clientOf, freshPrefix, onEachServer, redisTarget } from '../helpers/redis.js';

/**
 * The Lua scripts are sent as EVALSHA, and as EVAL when Redis does not know them: after a
 * restart or SCRIPT FLUSH the next call still works, alone or auto-pipelined with others.
 */
void describe('scripts', () => {
  let admin: RedisClient;
  let pipelined: RedisClient;
  /** SCRIPT FLUSH on every server (on a cluster each master has its own script cache). */
  const flush = () => onEachServer(admin, (r) => r.script('FLUSH'));

  before(async () => {
    const target = await redisTarget();
    admin = clientOf(target);
    pipelined = makeRedis(target, 'writer', 'scripts-test');
  });
  after(() => {
    admin.disconnect();
    pipelined.disconnect();
  });

  void it('run again after SCRIPT FLUSH, one at a time and many in one tick', async () => {
    const keys = new Keys(freshPrefix());
    const store = new AgentStore(pipelined, keys, 's1');
    assert.equal(await store.register(1000, 'boot-1', { hostname: 'h' }), '');
    await flush();
    assert.equal(await store.register(1000, 'boot-2', { hostname: 'h' }), 'boot-1');
    await flush();
    const stores = ['s2', 's3', 's4', 's5'].map((id) => new AgentStore(pipelined, keys, id));
    const prev = await Promise.all(
      stores.map((s) => s.register(1000, 'boot-9', { hostname: s.nodeId })),
    );
    assert.deepEqual(prev, ['', '', '', '']);
    for (const id of ['s1', 's2', 's5']) {
      assert.notEqual(await admin.hget(keys.nodeInfo(id), 'lastHeartbeatMs'), null);
    }
    await assert.rejects(
      pipelined.evalsha('0'.repeat(40), 0),
      /NOSCRIPT/,
      'a flushed script is unknown to Redis',
    );
  });

  void it('every script file compiles in Redis, under the SHA the loader sends', async () => {
    for (const s of loadScripts()) {
      assert.equal(await admin.script('LOAD', s.lua), s.sha, s.file);
    }
  });
});
