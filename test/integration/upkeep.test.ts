/**
 * The scheduler's upkeep (src/scheduler/upkeep.ts) finishes a StopInvocation that a server crash
 * cut short, and an invocation it retires leaves no key behind once FLEETCMD_RETENTION_SECONDS
 * have passed.
 *
 * The crash is laid down deterministically: StopInvocation records `stoppedMs` before it stops
 * any node (src/app/stop-invocation.ts), so a server that died right after leaves exactly that
 * record and nothing else; the test writes it through the store, then runs one upkeep pass
 * directly (Scheduler.upkeep), as a replica's upkeep job would. The schedule is daily, twelve
 * hours ahead, so nothing fires meanwhile; the stack's own upkeep runs at its start and then a
 * minute later, so the pass that finishes the stop is the test's.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Queue } from 'bullmq';
import { InvocationStore } from '../../src/store/invocation-store.js';
import { makeRedis, type RedisClient } from '../../src/store/redis.js';
import { upkeepOnce } from '../helpers/promises.js';
import { keysUnder } from '../helpers/redis.js';
import { makeStack, nodeOf, run, waitFinal, type Stack } from '../helpers/stack.js';

const RETENTION_SECONDS = 5;

void describe('upkeep', () => {
  let stack: Stack;
  let invocations: InvocationStore;
  let queueConn: RedisClient;
  let queue: Queue;

  before(async () => {
    stack = await makeStack({
      FLEETCMD_RETENTION_SECONDS: String(RETENTION_SECONDS),
      FLEETCMD_DELIVERY_TIMEOUT_SECONDS: '1',
    });
    invocations = new InvocationStore(stack.redis, stack.keys, RETENTION_SECONDS * 1000);
    queueConn = makeRedis(stack.redisTarget, 'worker', 'upkeep-test');
    queue = new Queue(stack.keys.schedulerQueueName(), {
      connection: queueConn,
      prefix: stack.keys.schedulerQueuePrefix(),
    });
    await stack.startAgent('u1');
  });
  after(async () => {
    await queue.close();
    queueConn.disconnect();
    await stack.close();
  });

  const jobSchedulers = async () => (await queue.getJobSchedulers()).map((j) => j.key);

  void it('finishes a StopInvocation cut short by a crash; the retired invocation leaves no key behind', async () => {
    const hour = (new Date().getUTCHours() + 12) % 24;
    const id = await run(stack, {
      NodeIdList: ['u1'],
      Frequency: `0 0 ${hour} * * *`,
      CommandContent: 'echo never',
    });
    // Its node record Scheduled, its schedule group recorded and its job scheduler made.
    const group = await stack.waitFor('the schedule dispatched', async () => {
      if (nodeOf(await stack.describe(id), 'u1').InvocationStatus !== 'Scheduled') return;
      const g = (await invocations.schedules(id))?.[0]?.id;
      return g !== undefined && (await jobSchedulers()).includes(g) ? g : undefined;
    });

    // What a server that died inside StopInvocation, right after its first write, leaves.
    await invocations.markStopping(id, Date.now());
    assert.ok((await invocations.timedIds()).includes(id), 'still a timed invocation');
    assert.ok((await jobSchedulers()).includes(group), 'its schedule still there');
    assert.equal(nodeOf(await stack.describe(id), 'u1').InvocationStatus, 'Scheduled');

    await upkeepOnce(stack);

    const inv = await waitFinal(stack, id);
    const node = nodeOf(inv, 'u1');
    assert.equal(node.InvocationStatus, 'Cancelled', JSON.stringify(node));
    assert.equal(node.Repeats, 0, 'nothing ran');
    // Retired by that pass, or by a later one when the event relay had not yet passed the
    // node's last event (InvocationFinished is written after it: docs/events.md).
    await stack.waitFor('the upkeep to retire it', async () => {
      if (!(await invocations.timedIds()).includes(id)) return true;
      await upkeepOnce(stack);
      return false;
    });
    assert.ok(!(await jobSchedulers()).includes(group), 'its schedule removed');
    const ttl = await stack.redis.pttl(stack.keys.invocation(id));
    assert.ok(ttl > 0 && ttl <= RETENTION_SECONDS * 1000, `invocation TTL ${ttl} ms`);

    // Retention: every key naming it, or its schedule, expires.
    const named = async () =>
      (await keysUnder(stack.redis, stack.prefix)).filter(
        (k) => k.includes(id) || k.includes(group),
      );
    await stack
      .waitFor(
        'every key of the retired invocation to expire',
        async () => (await named()).length === 0,
        30_000,
      )
      .catch(async (err: unknown) => {
        throw new Error(`${String(err)}; left: ${JSON.stringify(await named())}`);
      });
    assert.equal((await stack.call('DescribeInvocations', { InvokeId: id })).status, 404);
    // The indexes are pruned as a new invocation arrives.
    const fresh = await run(stack, { NodeIdList: ['u1'], CommandContent: 'echo new' });
    await waitFinal(stack, fresh);
    assert.equal(await stack.redis.zscore(stack.keys.invocationIndex(), id), null);
    assert.equal(await stack.redis.zscore(stack.keys.nodeInvocations('u1'), id), null);
    assert.equal(await stack.redis.sismember(stack.keys.timedInvocations(), id), 0);
  });
});
