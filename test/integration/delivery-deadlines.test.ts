import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Queue } from 'bullmq';
import { deadlineMember } from '../../src/domain/delivery-deadline.js';
import { DeadlineStore } from '../../src/store/deadline-store.js';
import { Keys } from '../../src/store/keys.js';
import { closeRedis, type RedisClient } from '../../src/store/redis.js';
import { HANG_MS } from '../helpers/hang.js';
import { clientOf, freshPrefix, redisTarget } from '../helpers/redis.js';
import { makeStack, nodeOf, run, waitFinal, type Stack } from '../helpers/stack.js';

/**
 * Delivery deadlines as a sorted set checked by each scheduler replica's poller
 * (store/deadline-store.ts, scheduler/deadline-poller.ts): leases that no two replicas share
 * and that a dead replica leaves to the others, and the deadlines of fires and rollout
 * releases, and the deadline jobs an earlier version queued.
 */
void describe('delivery deadline leases (dl-lease-1.lua)', () => {
  let redis: RedisClient;
  let keys: Keys;
  let store: DeadlineStore;
  const once = (i: number) => ({ kind: 'once' as const, invokeId: `t-${i}`, again: false });

  before(async () => {
    redis = clientOf(await redisTarget());
    keys = new Keys(freshPrefix());
    store = new DeadlineStore(redis, keys);
  });
  after(async () => {
    await closeRedis(redis);
  });

  void it('leases only what is due; a lease not ended by its replica comes due again', async () => {
    await redis.del(keys.deliveryDeadlines());
    await store.add(once(1), -1_000);
    await store.add(once(2), 60_000);
    const now = Date.now();
    assert.deepEqual(await store.lease(now, 30_000, 100), [deadlineMember(once(1))]);
    // Leased: no one else takes it meanwhile, and it is still there (not lost).
    assert.deepEqual(await store.lease(now + 29_000, 30_000, 100), []);
    assert.equal(await store.count(), 2);
    // Its replica died without removing it: the next lease after the lease's end takes it.
    assert.deepEqual(await store.lease(now + 30_001, 30_000, 100), [deadlineMember(once(1))]);
    await store.remove([deadlineMember(once(1))]);
    assert.deepEqual(await store.lease(now + 61_000, 30_000, 100), [deadlineMember(once(2))]);
  });

  void it('adding a deadline that waits already moves nothing (a retried creation or fire)', async () => {
    await redis.del(keys.deliveryDeadlines());
    await store.add(once(3), 1_000);
    const first = await store.nextDueMs();
    await store.add(once(3), 50_000);
    assert.equal(await store.nextDueMs(), first);
    assert.equal(await store.count(), 1);
  });

  void it('replicas leasing at once each get their own deadlines: every one leased once', async () => {
    await redis.del(keys.deliveryDeadlines());
    for (let i = 0; i < 300; i++) await store.add(once(i), -1);
    const now = Date.now();
    const leases = await Promise.all(
      Array.from({ length: 6 }, () => store.lease(now, 30_000, 100)),
    );
    const all = leases.flat();
    assert.equal(all.length, 300);
    assert.equal(new Set(all).size, 300);
  });
});

void describe('delivery deadlines of fires, rollout releases and older deadline jobs', () => {
  let stack: Stack;

  before(async () => {
    stack = await makeStack({ FLEETCMD_MIN_INTERVAL_SECONDS: '1' });
    await stack.startAgent('dl-on');
    // Registered, then gone: its runs are never taken.
    const off = await stack.startAgent('dl-off');
    await off.kill('SIGKILL');
  });
  after(async () => {
    await stack.close();
  });

  void it("an at() fire to an offline node is Aborted (ClientNotRunning) at the fire's deadline", async () => {
    const when = new Date(Date.now() + 2_000).toISOString().slice(0, 19).replace('T', ' ');
    const id = await run(stack, {
      NodeIdList: ['dl-off', 'dl-on'],
      Frequency: `at(${when})`,
      CommandContent: 'true',
    });
    const inv = await waitFinal(stack, id, HANG_MS);
    assert.equal(nodeOf(inv, 'dl-on').InvocationStatus, 'Success');
    const off = nodeOf(inv, 'dl-off');
    assert.equal(off.InvocationStatus, 'Aborted');
    assert.equal(off.ErrorCode, 'ClientNotRunning');
  });

  void it('a rollout release to an offline node is Aborted at its deadline, and the rollout goes on', async () => {
    const id = await run(stack, {
      NodeIdList: ['dl-off', 'dl-on'],
      MaxConcurrency: '1',
      CommandContent: 'true',
    });
    const inv = await waitFinal(stack, id, HANG_MS);
    assert.equal(nodeOf(inv, 'dl-off').InvocationStatus, 'Aborted');
    assert.equal(nodeOf(inv, 'dl-on').InvocationStatus, 'Success');
  });

  void it('deadline jobs an earlier version queued (deliveryTimeout, fireWatch) are still checked', async () => {
    const queue = new Queue(stack.keys.schedulerQueueName(), {
      connection: stack.redis,
      prefix: stack.keys.schedulerQueuePrefix(),
    });
    try {
      const [a, b] = [
        await run(stack, { NodeIdList: ['dl-off'], CommandContent: 'true' }),
        await run(stack, { NodeIdList: ['dl-off'], CommandContent: 'true' }),
      ];
      // This version's deadlines taken away (due in 3 s, so not yet checked): only the jobs
      // an earlier version would have queued remain.
      const removed = await stack.redis.zrem(
        stack.keys.deliveryDeadlines(),
        deadlineMember({ kind: 'once', invokeId: a, again: false }),
        deadlineMember({ kind: 'once', invokeId: b, again: false }),
      );
      assert.equal(removed, 2);
      await queue.add('deliveryTimeout', { invokeId: a }, { jobId: `w-${a}`, delay: 100 });
      await queue.add(
        'fireWatch',
        { invokeId: b, nodeIds: ['dl-off'], fire: '' },
        { jobId: `x-old-${b}`, delay: 100 },
      );
      for (const id of [a, b]) {
        const n = nodeOf(await waitFinal(stack, id, HANG_MS), 'dl-off');
        assert.equal(n.InvocationStatus, 'Aborted', id);
        assert.equal(n.ErrorCode, 'ClientNotRunning', id);
      }
    } finally {
      await queue.close();
    }
  });
});
