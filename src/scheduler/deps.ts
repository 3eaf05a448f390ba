import type { RedisClient } from '../store/redis.js';
import type { Logger } from '../shared/log.js';
import type { InvocationStore } from '../store/invocation-store.js';
import type { Keys } from '../store/keys.js';
import type { NodeStore } from '../store/node-store.js';
import type { NodeQueues, SchedulerQueue } from '../store/queues.js';
import type { RunStore } from '../store/run-store.js';
import type { EventStore } from '../store/event-store.js';
import type { PauseInFire } from './test-pause.js';

/**
 * Where the scheduler reports its latencies (the server's /metrics): once per dispatch and per
 * fire, by the attempt that did the work, never again by a retried job.
 */
export interface SchedulerMetrics {
  /** A one-off invocation's creation -> its per-node run jobs queued. */
  observeDispatchSeconds(seconds: number): void;
  /** A fire's due time -> its per-node run jobs queued. */
  observeFireLagSeconds(seconds: number): void;
}

export interface SchedulerDeps {
  invocations: InvocationStore;
  runs: RunStore;
  nodes: NodeStore;
  nodeQueues: NodeQueues;
  /** For the jobs the scheduler adds itself (schedules, per-fire delivery checks). */
  schedulerQueue: SchedulerQueue;
  /** A worker-profile connection for the scheduler queue's consumer. */
  workerConnection: RedisClient;
  /** A subscriber connection for agents' announcements. */
  subscriber: RedisClient;
  keys: Keys;
  log: Logger;
  deliveryTimeoutSeconds: number;
  /**
   * FLEETCMD_NODE_LOST_SECONDS: a node silent this long has its runs ended as lost.
   * @default 300
   */
  nodeLostSeconds?: number;
  /** Scheduler jobs in parallel per replica (FLEETCMD_SCHEDULER_CONCURRENCY, default 32). */
  concurrency: number;
  /** @default Date.now */
  clock?: () => number;
  /** @default none: latencies are not observed */
  metrics?: SchedulerMetrics;
  /** InvocationFinished of timed invocations. @default none: not announced */
  events?: EventStore;
  /** TEST ONLY (FLEETCMD_TEST_PAUSE_IN_FIRE, see test-pause.ts). @default none */
  pauseInFire?: PauseInFire;
}
