import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Keys } from '../../src/store/keys.js';
import { keysUnder } from '../helpers/redis.js';
import { makeStack, run, waitFinal, type Stack } from '../helpers/stack.js';

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

// Per-node credentials (ACL users confined to these keys) are tested in agent-acl.test.ts.
void describe('key layout: cluster hash tags', () => {
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
      new RegExp(`^${p}:\\{global\\}:(invocations|nodes|node-index-ready|audit)$`),
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
