import type { FleetSource } from '../../src/api/plugins/metrics.js';
import { InvocationStore } from '../../src/store/invocation-store.js';
import { NodeStore } from '../../src/store/node-store.js';
import { NodeQueues, SchedulerQueue } from '../../src/store/queues.js';
import { closeRedis, makeRedis } from '../../src/store/redis.js';
import { RunStore } from '../../src/store/run-store.js';
import type { Stack } from './stack.js';
import { makeLogger } from '../../src/shared/log.js';
import type { SchedulerDeps } from '../../src/scheduler/deps.js';
import { Scheduler } from '../../src/scheduler/worker.js';

/** The stack's stores and queues on a connection of the test's own, closed afterwards. */
export async function withStores<T>(
  stack: Stack,
  fn: (src: FleetSource & { redis: ReturnType<typeof makeRedis> }) => Promise<T>,
): Promise<T> {
  const redis = makeRedis(stack.redisTarget, 'worker', 'stores-test');
  const nodeQueues = new NodeQueues(redis, stack.keys);
  const schedulerQueue = new SchedulerQueue(redis, stack.keys);
  try {
    return await fn({
      redis,
      nodes: new NodeStore(redis, stack.keys),
      invocations: new InvocationStore(redis, stack.keys),
      runs: new RunStore(redis, stack.keys),
      nodeQueues,
      schedulerQueue,
    });
  } finally {
    await schedulerQueue.close();
    await nodeQueues.close();
    await closeRedis(redis);
  }
}

/**
 * A Scheduler of the test's own on withStores' connection (its worker is never started: the
 * test hands it jobs), with a 3 s delivery timeout unless `extra` says otherwise.
 */
export function testScheduler(
  stack: Stack,
  src: Parameters<Parameters<typeof withStores>[1]>[0],
  extra: Partial<SchedulerDeps> = {},
): Scheduler {
  return new Scheduler({
    ...src,
    workerConnection: src.redis,
    subscriber: src.redis,
    keys: stack.keys,
    log: makeLogger('silent', 'test'),
    deliveryTimeoutSeconds: 3,
    concurrency: 1,
    ...extra,
  });
}
