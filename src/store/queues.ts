import { Queue, Worker, type Job, type Processor } from 'bullmq';
import type { Redis } from 'ioredis';
import type { RunJob } from '../domain/run-job.js';
import type { Keys } from './keys.js';

/** Job id of an invocation's run on a node (no `:` and not all digits, as BullMQ requires). */
export function runJobId(invokeId: string): string {
  return `r-${invokeId}`;
}

/**
 * Run jobs are never retried by BullMQ: a command may not run twice for one fire (SPEC §5).
 * They are removed once done; fleetcmd keeps results in its own run records.
 */
const RUN_JOB_OPTS = {
  attempts: 1,
  removeOnComplete: true,
  removeOnFail: { age: 24 * 3600, count: 1000 },
} as const;

/** Producer side of the per-node run queues, one BullMQ Queue per node, created on demand. */
export class NodeQueues {
  private readonly queues = new Map<string, Queue>();

  constructor(
    private readonly connection: Redis,
    private readonly keys: Keys,
  ) {}

  private queue(nodeId: string): Queue {
    let q = this.queues.get(nodeId);
    if (!q) {
      q = new Queue(this.keys.nodeQueueName(nodeId), {
        connection: this.connection,
        prefix: this.keys.nodeQueuePrefix(),
      });
      q.on('error', () => undefined);
      this.queues.set(nodeId, q);
    }
    return q;
  }

  async addRun(nodeId: string, data: RunJob): Promise<void> {
    await this.queue(nodeId).add('run', data, { ...RUN_JOB_OPTS, jobId: runJobId(data.invokeId) });
  }

  /** Removes a run job that is still waiting; an active (claimed) job is left alone. */
  async removeWaitingRun(nodeId: string, invokeId: string): Promise<boolean> {
    const removed = await this.queue(nodeId).remove(runJobId(invokeId));
    return removed === 1;
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.close()));
    this.queues.clear();
  }
}

export type SchedulerJob =
  | { name: 'dispatch'; data: { invokeId: string } }
  | { name: 'deliveryTimeout'; data: { invokeId: string } };

/** The scheduler's own queue: fan-out of new invocations and their delivery deadlines. */
export class SchedulerQueue {
  readonly queue: Queue;

  constructor(connection: Redis, keys: Keys) {
    this.queue = new Queue(keys.schedulerQueueName(), {
      connection,
      prefix: keys.schedulerQueuePrefix(),
    });
    this.queue.on('error', () => undefined);
  }

  /** Enqueues the fan-out now and the delivery check after `deliveryTimeoutMs`. */
  async enqueueInvocation(invokeId: string, deliveryTimeoutMs: number): Promise<void> {
    // Scheduler jobs are idempotent, so unlike run jobs they may be retried.
    const common = {
      attempts: 8,
      backoff: { type: 'exponential', delay: 200 },
      removeOnComplete: true,
      removeOnFail: { age: 7 * 24 * 3600 },
    } as const;
    await this.queue.addBulk([
      { name: 'dispatch', data: { invokeId }, opts: { ...common, jobId: `d-${invokeId}` } },
      {
        name: 'deliveryTimeout',
        data: { invokeId },
        opts: { ...common, jobId: `w-${invokeId}`, delay: deliveryTimeoutMs },
      },
    ]);
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}

export function makeSchedulerWorker(
  connection: Redis,
  keys: Keys,
  processor: Processor,
  concurrency: number,
): Worker {
  return new Worker(keys.schedulerQueueName(), processor, {
    connection,
    prefix: keys.schedulerQueuePrefix(),
    concurrency,
    autorun: false,
  });
}

export interface NodeWorkerOptions {
  concurrency: number;
  /** @default 30000 */
  lockDurationMs?: number;
}

/**
 * The agent's consumer of its own node's queue. `maxStalledCount: 0` and
 * `maxStartedAttempts: 1`: a job whose agent died is failed, never handed to another run.
 */
export function makeNodeWorker(
  connection: Redis,
  keys: Keys,
  nodeId: string,
  processor: (job: Job<unknown>) => Promise<void>,
  opts: NodeWorkerOptions,
): Worker {
  return new Worker(keys.nodeQueueName(nodeId), processor, {
    connection,
    prefix: keys.nodeQueuePrefix(),
    concurrency: opts.concurrency,
    maxStalledCount: 0,
    maxStartedAttempts: 1,
    lockDuration: opts.lockDurationMs ?? 30_000,
    stalledInterval: opts.lockDurationMs ?? 30_000,
    autorun: false,
  });
}
