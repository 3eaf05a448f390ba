import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { makeStack, run, waitFinal, type Stack } from '../helpers/stack.js';

void describe('ClientToken idempotency', () => {
  let stack: Stack;

  before(async () => {
    stack = await makeStack();
    await stack.startAgent('i1');
  });
  after(() => stack.close());

  const indexSize = () => stack.redis.zcard(stack.keys.invocationIndex());

  void it('the same token with the same request answers the first InvokeId and runs once', async () => {
    const body = { NodeIdList: ['i1'], CommandContent: 'echo once', ClientToken: 'tok-same-1' };
    const before = await indexSize();
    const first = await run(stack, body);
    // Key order and explicit defaults do not make a request different.
    const again = await run(stack, {
      ClientToken: 'tok-same-1',
      Timeout: 60,
      CommandContent: 'echo once',
      NodeIdList: ['i1'],
    });
    assert.equal(again, first);
    assert.equal(await indexSize(), before + 1);
    await waitFinal(stack, first);
  });

  void it('the same token with a different request answers 409 IdempotentParameterMismatch and creates nothing', async () => {
    await run(stack, { NodeIdList: ['i1'], CommandContent: 'echo a', ClientToken: 'tok-diff' });
    const before = await indexSize();
    const res = await stack.call('RunCommand', {
      NodeIdList: ['i1'],
      CommandContent: 'echo b',
      ClientToken: 'tok-diff',
    });
    assert.equal(res.status, 409);
    assert.equal(res.body.Code, 'IdempotentParameterMismatch');
    assert.match(String(res.body.Message), /ClientToken/);
    assert.equal(await indexSize(), before);
  });

  void it('holds under concurrent identical requests', async () => {
    const before = await indexSize();
    const body = { NodeIdList: ['i1'], CommandContent: 'echo race', ClientToken: 'tok-race' };
    const ids = await Promise.all(Array.from({ length: 20 }, () => run(stack, body)));
    assert.equal(new Set(ids).size, 1);
    assert.equal(await indexSize(), before + 1);
    const inv = await waitFinal(stack, ids[0] ?? '');
    assert.equal(inv.InvokeNodes.InvokeNode[0]?.Repeats, 1);
  });

  void it('a retry with the token completes a creation that stopped half-way', async () => {
    const body = { NodeIdList: ['i1'], CommandContent: 'echo repaired', ClientToken: 'tok-half' };
    const id = await run(stack, body);
    await waitFinal(stack, id);
    // Make it look as if the first request died after writing the invocation: no jobs, not
    // listed, no run record.
    const conn = new Redis(stack.redisUrl, { maxRetriesPerRequest: null });
    const q = new Queue(stack.keys.schedulerQueueName(), {
      connection: conn,
      prefix: stack.keys.schedulerQueuePrefix(),
    });
    try {
      await q.remove(`w-${id}`);
      // A one-off invocation is marked dispatched once RunCommand has fanned it out.
      await stack.redis.hdel(stack.keys.invocation(id), 'dispatchedMs');
      await stack.redis.zrem(stack.keys.invocationIndex(), id);
      await stack.redis.del(stack.keys.nodeRun('i1', id));
      assert.equal(await q.getJobState(`w-${id}`), 'unknown');

      assert.equal(await run(stack, body), id);
      assert.notEqual(await stack.redis.zscore(stack.keys.invocationIndex(), id), null);
      assert.equal(await stack.redis.hexists(stack.keys.invocation(id), 'dispatchedMs'), 1);
      const inv = await waitFinal(stack, id);
      assert.equal(inv.InvocationStatus, 'Success');
      assert.equal(inv.InvokeNodes.InvokeNode[0]?.Output, 'repaired\n');
    } finally {
      await q.close();
      conn.disconnect();
    }
  });

  void it('a retry with the token lists an invocation marked dispatched but not listed, and runs nothing again', async () => {
    const body = { NodeIdList: ['i1'], CommandContent: 'echo listed', ClientToken: 'tok-list' };
    const id = await run(stack, body);
    await waitFinal(stack, id);
    // As if the listing step had failed after the mark was written (they are separate slots).
    await stack.redis.zrem(stack.keys.invocationIndex(), id);
    assert.equal(await stack.redis.hexists(stack.keys.invocation(id), 'dispatchedMs'), 1);

    assert.equal(await run(stack, body), id);
    assert.notEqual(await stack.redis.zscore(stack.keys.invocationIndex(), id), null);
    // The fan-out done again finds the record done: the command is not run twice.
    await new Promise((r) => setTimeout(r, 500));
    const inv = await waitFinal(stack, id);
    assert.equal(inv.InvokeNodes.InvokeNode[0]?.Repeats, 1);
    assert.equal(inv.InvokeNodes.InvokeNode[0]?.Output, 'listed\n');
  });

  void it('a request rejected for bad input does not use up its token', async () => {
    const bad = await stack.call('RunCommand', {
      NodeIdList: ['ghost'],
      CommandContent: 'true',
      ClientToken: 'tok-bad',
    });
    assert.equal(bad.status, 400);
    const ok = await stack.call('RunCommand', {
      NodeIdList: ['i1'],
      CommandContent: 'true',
      ClientToken: 'tok-bad',
    });
    assert.equal(ok.status, 200);
  });
});
