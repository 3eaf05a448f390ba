import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { Keys } from '../../src/store/keys.js';
import { keysUnder } from '../helpers/redis.js';
import { makeStack, nodeOf, run, waitFinal, type Stack } from '../helpers/stack.js';

/** Redis Cluster's key slot: CRC16 (XMODEM) of the hash tag, or of the whole key. */
function slot(key: string): number {
  const open = key.indexOf('{');
  let k = key;
  if (open >= 0) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) k = key.slice(open + 1, close);
  }
  let crc = 0;
  for (const byte of Buffer.from(k)) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++)
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % 16384;
}

/** The Redis ACL a per-node agent user needs: its own node's keys and channels, nothing else. */
function agentAcl(prefix: string, nodeId: string, password: string): string[] {
  return [
    'on',
    `>${password}`,
    'resetkeys',
    `~${prefix}:node:{${nodeId}}:*`,
    `~${prefix}:nq:{${nodeId}}:*`,
    'resetchannels',
    `&${prefix}:node:{${nodeId}}:ctl`,
    `&${prefix}:announce`,
    '+@all',
    '-@admin',
    '-@dangerous',
    '+info',
    '+client|setname',
    '+client|getname',
  ];
}

void describe('key layout: cluster hash tags and per-node credentials', () => {
  let stack: Stack;

  before(async () => {
    stack = await makeStack();
  });
  after(() => stack.close());

  void it('each multi-key group shares one hash slot', () => {
    const keys = new Keys('fc');
    for (const node of ['n1', 'web-01', 'a.b_c']) {
      const s = slot(keys.nodeInfo(node));
      assert.equal(slot(keys.nodeRun(node, 't-abc')), s);
      assert.equal(slot(keys.nodeActive(node)), s);
      assert.equal(slot(keys.nodeStats(node)), s);
      assert.equal(slot(keys.nodeInvocations(node)), s);
      assert.equal(slot(`${keys.nodeQueuePrefix()}:${keys.nodeQueueName(node)}:wait`), s);
    }
    assert.equal(slot(keys.invocationIndex()), slot(keys.nodeRegistry()));
    // Different nodes spread over slots rather than piling into one.
    const slots = new Set(Array.from({ length: 50 }, (_, i) => slot(keys.nodeInfo(`n${i}`))));
    assert.ok(slots.size > 40);
  });

  void it('an agent holding only its own node keys runs commands; it cannot touch other nodes', async (t) => {
    const admin = new Redis(stack.redisUrl);
    const p = stack.prefix;
    try {
      await admin.call('ACL', 'SETUSER', `${p}-n1`, ...agentAcl(p, 'acl1', 'pw1'));
    } catch (err) {
      admin.disconnect();
      t.skip(`this Redis does not allow ACL SETUSER: ${String(err)}`);
      return;
    }
    t.after(async () => {
      await admin.call('ACL', 'DELUSER', `${p}-n1`);
      admin.disconnect();
    });
    const url = new URL(stack.redisUrl);
    url.username = `${p}-n1`;
    url.password = 'pw1';
    await stack.startAgent('acl1', { REDIS_URL: url.toString() });
    await stack.startAgent('acl2');

    const id = await run(stack, { NodeIdList: ['acl1'], CommandContent: 'echo confined' });
    const n = nodeOf(await waitFinal(stack, id), 'acl1');
    assert.equal(n.InvocationStatus, 'Success');
    assert.equal(n.Output, 'confined\n');
    // Stop reaches it over its own control channel.
    const id2 = await run(stack, { NodeIdList: ['acl1'], CommandContent: 'echo go; sleep 60' });
    await stack.waitFor(
      'running',
      async () => nodeOf(await stack.describe(id2), 'acl1').Output === 'go\n',
    );
    await stack.call('StopInvocation', { InvokeId: id2 });
    assert.equal(nodeOf(await waitFinal(stack, id2, 5_000), 'acl1').InvocationStatus, 'Terminated');

    const asAgent = new Redis(url.toString(), { maxRetriesPerRequest: 0 });
    t.after(() => asAgent.disconnect());
    const k = stack.keys;
    const other = await run(stack, { NodeIdList: ['acl2'], CommandContent: 'true' });
    await waitFinal(stack, other);
    await assert.rejects(asAgent.lrange(`${p}:nq:{acl2}:wait`, 0, -1), /NOPERM/);
    await assert.rejects(asAgent.hset(k.nodeRun('acl2', other), 'status', 'Success'), /NOPERM/);
    await assert.rejects(asAgent.hgetall(k.nodeInfo('acl2')), /NOPERM/);
    await assert.rejects(asAgent.hgetall(k.invocation(id)), /NOPERM/);
    await assert.rejects(asAgent.zrange(k.invocationIndex(), 0, -1), /NOPERM/);
    await assert.rejects(asAgent.publish(k.nodeControlChannel('acl2'), `stop ${other}`), /NOPERM/);
    // Its own records are reachable.
    assert.equal(await asAgent.hget(k.nodeRun('acl1', id), 'status'), 'Success');
  });

  void it('every key the system writes is in a known, hash-tagged family', async () => {
    await stack.startAgent('lay1');
    const id = await run(stack, { NodeIdList: ['lay1'], CommandContent: 'true' });
    await waitFinal(stack, id);
    const p = stack.prefix;
    const families = [
      new RegExp(`^${p}:node:\\{[^}]+\\}:(info|active|stats|invocations|run:t-[a-z0-9]+)$`),
      new RegExp(`^${p}:nq:\\{[^}]+\\}:`),
      new RegExp(`^${p}:sq:\\{sched\\}:`),
      new RegExp(`^${p}:inv:\\{t-[a-z0-9]+\\}$`),
      new RegExp(`^${p}:ct:\\{[0-9a-f]{64}\\}$`),
      new RegExp(`^${p}:\\{global\\}:(invocations|nodes|node-index-ready)$`),
    ];
    const all = await keysUnder(stack.redis, p);
    assert.ok(all.length > 0);
    for (const key of all) {
      assert.ok(
        families.some((f) => f.test(key)),
        `unexpected key ${key}`,
      );
    }
  });
});
