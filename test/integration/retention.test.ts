import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { keysUnder } from '../helpers/redis.js';
import { makeStack, run, waitFinal, type Stack } from '../helpers/stack.js';

void describe('retention', () => {
  let stack: Stack;

  before(async () => {
    // The delivery deadline (1 s) passes before the retention (5 s): its job is gone by then.
    // (5 s, not less: on a loaded machine the run itself may take a few seconds.)
    stack = await makeStack({
      FLEETCMD_RETENTION_SECONDS: '5',
      FLEETCMD_DELIVERY_TIMEOUT_SECONDS: '1',
    });
    await stack.startAgent('r1');
  });
  after(() => stack.close());

  void it('forgets invocations and their results after FLEETCMD_RETENTION_SECONDS', async () => {
    const old = await run(stack, { NodeIdList: ['r1'], CommandContent: 'echo old' });
    await waitFinal(stack, old);
    const invKey = stack.keys.invocation(old);
    const runKey = stack.keys.nodeRun('r1', old);
    const ttlInv = await stack.redis.pttl(invKey);
    const ttlRun = await stack.redis.pttl(runKey);
    assert.ok(ttlInv > 0 && ttlInv <= 5_000, `invocation TTL ${ttlInv}`);
    assert.ok(ttlRun > 0 && ttlRun <= 5_000, `run record TTL ${ttlRun}`);

    await stack.waitFor(
      'the records to expire',
      // One EXISTS per key: on a cluster they are in different slots.
      async () => (await stack.redis.exists(invKey)) + (await stack.redis.exists(runKey)) === 0,
      10_000,
    );
    const gone = await stack.call('DescribeInvocations', { InvokeId: old });
    assert.equal(gone.status, 404);
    // A new invocation prunes the index of expired entries; the listing shows only the new one.
    const fresh = await run(stack, { NodeIdList: ['r1'], CommandContent: 'echo new' });
    await waitFinal(stack, fresh);
    assert.equal(await stack.redis.zscore(stack.keys.invocationIndex(), old), null);
    assert.equal(await stack.redis.zscore(stack.keys.nodeInvocations('r1'), old), null);
    assert.notEqual(await stack.redis.zscore(stack.keys.nodeInvocations('r1'), fresh), null);
    const list = await stack.call('DescribeInvocations', {});
    const ids = (list.body.Invocations as { Invocation: { InvokeId: string }[] }).Invocation.map(
      (i) => i.InvokeId,
    );
    assert.deepEqual(ids, [fresh]);
    const left = (await keysUnder(stack.redis, stack.prefix)).filter((k) => k.includes(old));
    assert.deepEqual(left, []);
  });
});
