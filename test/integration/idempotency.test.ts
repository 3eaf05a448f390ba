import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Queue } from 'bullmq';
import { runJobId } from '../../src/store/queues.js';
import { makeRedis } from '../../src/store/redis.js';
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
    const conn = makeRedis(stack.redisTarget, 'worker', 'test');
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

    const conn = makeRedis(stack.redisTarget, 'worker', 'test');
    const q = new Queue(stack.keys.nodeQueueName('i1'), {
      connection: conn,
      prefix: stack.keys.nodeQueuePrefix(),
    });
    // The node queue's own event log: what happened to the run job, in order.
    const jobEvents = async (): Promise<string[]> =>
      (await conn.xrange(q.keys.events ?? '', '-', '+'))
        .map(([, fields]) => Object.fromEntries(pairs(fields)))
        .filter((e) => e.jobId === runJobId(id))
        .map((e) => e.event ?? '');
    const settled = (e: string) => e === 'completed' || e === 'failed';
    const processed = (count: number) =>
      stack.waitFor(
        `the run job to be processed ${count} time(s)`,
        async () => {
          const e = await jobEvents();
          return e.filter(settled).length >= count ? e : undefined;
        },
        60_000,
      );
    try {
      const first = await processed(1);
      assert.deepEqual(
        first.filter((e) => e === 'added' || settled(e)),
        ['added', 'completed'],
      );
      assert.equal(await run(stack, body), id);
      assert.notEqual(await stack.redis.zscore(stack.keys.invocationIndex(), id), null);
      // The retry fans out again (the run job is added anew, its first one done and removed)...
      assert.equal((await jobEvents()).filter((e) => e === 'added').length, 2);
      // ...and the agent takes that job: wait until it is done with it.
      const events = await processed(2);
      assert.equal(events.at(-1), 'completed', JSON.stringify(events));
    } finally {
      await q.close();
      conn.disconnect();
    }
    // The fan-out done again found the record done: the command did not run twice.
    const inv = await stack.describe(id);
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

/** [k1, v1, k2, v2, ...] as [[k1, v1], ...]. */
function pairs(flat: string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) out.push([flat[i] ?? '', flat[i + 1] ?? '']);
  return out;
}
