import { getNextMillis, Queue, Worker, type Job, type Processor, type RepeatOptions } from 'bullmq';
import type { RedisClient } from './redis.js';
import type { RunJob } from '../domain/run-job.js';
import { fireLeadMs, type RepeatPlan } from '../domain/schedule-plan.js';
import type { Keys } from './keys.js';
import { DeadlineStore } from './deadline-store.js';
import { bullTelemetry } from '../shared/telemetry.js';

/**
 * BullMQ's telemetry option (bullmq-otel) while tracing is on: a job's add and its processing
 * become spans, the trace context travelling in the job. Off: no option at all.
 */
function traced(): { telemetry?: NonNullable<ReturnType<typeof bullTelemetry>> } {
  const telemetry = bullTelemetry();
  return telemetry ? { telemetry } : {};
}

/**
 * Job id of an invocation's run on a node, one per fire of a timed invocation (no `:` and not
 * all digits, as BullMQ requires).
 */
export function runJobId(invokeId: string, fire = ''): string {
  return fire === '' ? `r-${invokeId}` : `r-${invokeId}-${fire}`;
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

/** Jobs of one run queue that are not done yet, by state. */
export interface RunQueueDepth {
  waiting: number;
  delayed: number;
  active: number;
}

/**
 * Most entries BullMQ keeps in a node queue's event stream (`streams.events.maxLen`, trimmed
 * approximately: whole stream nodes of 100 entries). BullMQ writes ~4 events a run (added,
 * active, completed, removed; ~80 bytes each) and keeps 10,000 by default: ~0.8 MB per node once
 * a node has run 2,500 commands, ~8 GiB over 10,000 nodes, that nothing reads (fleetcmd keeps
 * its own results and event stream and uses no QueueEvents on run queues). 100 keeps the last
 * runs' events for whoever looks with BullMQ's tools: at most ~200 entries, ~16 KB a node.
 */
export const NODE_QUEUE_EVENTS_MAXLEN = 100;

/** Producer side of the per-node run queues, one BullMQ Queue per node, created on demand. */
export class NodeQueues {
  private readonly queues = new Map<string, Queue>();

  constructor(
    private readonly connection: RedisClient,
    private readonly keys: Keys,
  ) {}

  private queue(nodeId: string): Queue {
    let q = this.queues.get(nodeId);
    if (!q) {
      q = new Queue(this.keys.nodeQueueName(nodeId), {
        connection: this.connection,
        prefix: this.keys.nodeQueuePrefix(),
        streams: { events: { maxLen: NODE_QUEUE_EVENTS_MAXLEN } },
        ...traced(),
      });
      q.on('error', () => undefined);
      this.queues.set(nodeId, q);
    }
    return q;
  }

  async addRun(nodeId: string, data: RunJob): Promise<void> {
    await this.queue(nodeId).add('run', data, {
      ...RUN_JOB_OPTS,
      jobId: runJobId(data.invokeId, data.fire),
    });
  }

  /** Jobs in one node's run queue by state (`waiting` includes a paused queue's jobs). */
  async depth(nodeId: string): Promise<RunQueueDepth> {
    const c = await this.queue(nodeId).getJobCounts('waiting', 'delayed', 'active');
    return { waiting: c.waiting ?? 0, delayed: c.delayed ?? 0, active: c.active ?? 0 };
  }

  /** Jobs of one node's run queue that BullMQ counts as active (handed to a worker). */
  async activeRuns(nodeId: string): Promise<Job[]> {
    return this.queue(nodeId).getJobs(['active']);
  }

  /** Removes a run job that is still waiting; an active (claimed) job is left alone. */
  async removeWaitingRun(nodeId: string, invokeId: string, fire = ''): Promise<boolean> {
    const removed = await this.queue(nodeId).remove(runJobId(invokeId, fire));
    return removed === 1;
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.close()));
    this.queues.clear();
  }
}

/** Id of the job scheduler of a timed invocation's `index`-th time zone. */
export function scheduleId(invokeId: string, index: number): string {
  return `s-${invokeId}-${index}`;
}

/** Id of the job scheduler of one fire's rollout ('' for a one-off run). */
export function rolloutTickId(invokeId: string, fire: string): string {
  return fire === '' ? `o-${invokeId}` : `o-${invokeId}-${fire}`;
}

/** Id of the single delayed fire job of an `at()` invocation. */
export function oneFireId(invokeId: string): string {
  return `a-${invokeId}`;
}

function isOneFireId(id: string): boolean {
  return id.startsWith('a-');
}

/** What a fire job carries: the invocation and the nodes of one schedule (one time zone). */
export interface FireData {
  invokeId: string;
  nodeIds: string[];
  /** The zone the schedule runs in ('' for rate and at, which need none). */
  zone: string;
  /** For an `at()` fire, its due time; clock schedules' fires take it from the job id. */
  fireMs?: number;
}

/**
 * What a per-fire delivery check job carries: jobs an earlier version queued (this one adds a
 * DeliveryDeadline instead), still checked when they come due.
 */
export interface FireWatchData {
  invokeId: string;
  nodeIds: string[];
  fire: string;
}

/** Scheduler jobs are idempotent, so unlike run jobs they may be retried. */
const SCHEDULER_JOB_OPTS = {
  attempts: 8,
  backoff: { type: 'exponential', delay: 200 },
  removeOnComplete: true,
  removeOnFail: { age: 7 * 24 * 3600 },
} as const;

/**
 * The job name of a fire delivered ahead of its slot (fireLeadMs) (a schedule made by this
 * version, without a rollout); `fire` jobs, of schedules made before it or with a rollout, are
 * due at their slot.
 */
export const FIRE_AHEAD_JOB = 'fireAhead';

/** The last slot of a cron before `slotMs` within twice the longest lead, if any. */
function slotBefore(slotMs: number, opts: RepeatOptions): number | undefined {
  let prev: number | undefined;
  for (let s = getNextMillis(slotMs - 2 * fireLeadMs(slotMs, undefined) - 1, opts); ;) {
    if (s === undefined || s >= slotMs) return prev;
    prev = s;
    s = getNextMillis(s, opts);
  }
}

/**
 * BullMQ's repeat strategy for the scheduler queue and worker (`settings.repeatStrategy`): a
 * cron schedule's `fireAhead` job is due fireLeadMs before its slot (BullMQ's `offset`
 * applies to `every` only, whose startDate is moved instead): the first slot whose due time is
 * after `millis`. Every other job as BullMQ's own.
 */
export function fireRepeatStrategy(
  millis: number,
  opts: RepeatOptions,
  name?: string,
): number | undefined {
  if (name !== FIRE_AHEAD_JOB || !opts.pattern) return getNextMillis(millis, opts);
  for (let slot = getNextMillis(millis, opts); slot !== undefined;) {
    const due = slot - fireLeadMs(slot, slotBefore(slot, opts));
    if (due > millis) return due;
    slot = getNextMillis(slot, opts);
  }
  return undefined;
}

/**
 * When a fire job is due: BullMQ names a job scheduler's jobs `repeat:<id>:<dueMs>` (for a
 * `fireAhead` job, ahead of its slot: see aheadSlot); an `at()` fire carries its slot in its
 * data.
 */
export function fireDueMs(job: Job): number | undefined {
  const data = job.data as Partial<FireData>;
  if (typeof data.fireMs === 'number') return data.fireMs;
  const last = job.id?.split(':').pop();
  const ms = Number(last);
  return last !== undefined && /^\d+$/.test(last) && Number.isSafeInteger(ms) ? ms : undefined;
}

/**
 * The scheduler's own queue: fan-out of new invocations and the BullMQ job schedulers of timed invocations (one per invocation and time zone). A fire job
 * only fans out: commands run in ordinary per-node jobs, never inside scheduler-made jobs.
 */
export class SchedulerQueue {
  readonly queue: Queue;
  /**
   * The delivery deadlines of one-off invocations, fires and rollout releases: a sorted set
   * beside the queue, not jobs in it (see DeadlineStore).
   */
  readonly deadlines: DeadlineStore;

  constructor(connection: RedisClient, keys: Keys) {
    this.deadlines = new DeadlineStore(connection, keys);
    this.queue = new Queue(keys.schedulerQueueName(), {
      connection,
      prefix: keys.schedulerQueuePrefix(),
      settings: { repeatStrategy: fireRepeatStrategy },
      ...traced(),
    });
    this.queue.on('error', () => undefined);
  }

  /** Enqueues a timed invocation's dispatch: its records and schedules (a fixed job id). */
  async enqueueDispatch(invokeId: string): Promise<void> {
    await this.queue.add(
      'dispatch',
      { invokeId },
      { ...SCHEDULER_JOB_OPTS, jobId: `d-${invokeId}` },
    );
  }

  /** Jobs of this queue by BullMQ state (waiting, delayed, active, completed, failed, ...). */
  async counts(): Promise<Record<string, number>> {
    return this.queue.getJobCounts();
  }

  /** The job scheduler of the schedulers' own upkeep (same id on every replica: one job). */
  async ensureUpkeep(everyMs: number): Promise<void> {
    await this.queue.upsertJobScheduler(
      'upkeep',
      { every: everyMs },
      { name: 'upkeep', data: {}, opts: SCHEDULER_JOB_OPTS },
    );
  }

  /**
   * Creates (or replaces) the job scheduler `id`, whose jobs are fire jobs carrying `data`;
   * `ahead`: each due ahead of its slot (FIRE_AHEAD_JOB, see fireRepeatStrategy).
   */
  async upsertSchedule(
    id: string,
    repeat: RepeatPlan,
    data: FireData,
    ahead: boolean,
  ): Promise<void> {
    // A rate's slots are every `every` ms apart: each is due fireLeadMs before.
    const shifted =
      ahead && 'every' in repeat
        ? { ...repeat, startDate: repeat.startDate - fireLeadMs(repeat.every, 0) }
        : repeat;
    await this.queue.upsertJobScheduler(id, shifted, {
      name: ahead ? FIRE_AHEAD_JOB : 'fire',
      data,
      opts: SCHEDULER_JOB_OPTS,
    });
  }

  /**
   * When schedule `id`'s next job is due (BullMQ's own record), and whether its jobs are sent
   * ahead of their slots (FIRE_AHEAD_JOB); undefined if it is gone.
   */
  async scheduledNext(id: string): Promise<{ dueMs: number; ahead: boolean } | undefined> {
    const scheduler = await this.queue.getJobScheduler(id);
    const next = scheduler?.next;
    if (typeof next !== 'number' || !Number.isFinite(next)) return undefined;
    return { dueMs: next, ahead: scheduler?.name === FIRE_AHEAD_JOB };
  }

  async hasSchedule(id: string): Promise<boolean> {
    return (await this.queue.getJobScheduler(id)) !== undefined;
  }

  /**
   * The single fire of an `at()` invocation, as a delayed job with a fixed id due `delayMs` from
   * now (`ahead`: FIRE_LEAD_MS earlier).
   */
  async addOneFire(id: string, delayMs: number, data: FireData, ahead: boolean): Promise<void> {
    await this.queue.add(ahead ? FIRE_AHEAD_JOB : 'fire', data, {
      ...SCHEDULER_JOB_OPTS,
      jobId: id,
      delay: Math.max(0, delayMs - (ahead ? fireLeadMs(0, undefined) : 0)),
    });
  }

  /** Removes schedules made by upsertSchedule or addOneFire (a fire under way is left alone). */
  async removeSchedules(ids: readonly string[]): Promise<void> {
    for (const id of ids) {
      if (isOneFireId(id)) await this.queue.remove(id);
      else await this.queue.removeJobScheduler(id);
    }
  }

  /**
   * The tick of one fire's rollout (MaxConcurrency, MaxErrors): a job scheduler, so a replica
   * that dies leaves it to another. It catches up on run ends whose notice no scheduler heard
   * and re-queues released jobs a crash lost (see app/rollout.ts); removed once the rollout is
   * done.
   */
  async upsertRolloutTick(invokeId: string, fire: string, everyMs: number): Promise<void> {
    await this.queue.upsertJobScheduler(
      rolloutTickId(invokeId, fire),
      { every: everyMs },
      { name: 'rolloutTick', data: { invokeId, fire }, opts: SCHEDULER_JOB_OPTS },
    );
  }

  async removeRolloutTick(invokeId: string, fire: string): Promise<void> {
    await this.queue.removeJobScheduler(rolloutTickId(invokeId, fire));
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}

/** Lock of a scheduler job (renewed every half while the job runs). */
const SCHEDULER_LOCK_MS = 10_000;

export function makeSchedulerWorker(
  connection: RedisClient,
  keys: Keys,
  processor: Processor,
  concurrency: number,
): Worker {
  return new Worker(keys.schedulerQueueName(), processor, {
    connection,
    prefix: keys.schedulerQueuePrefix(),
    ...traced(),
    // The worker makes each schedule's next job as it hands out the current one: by the same
    // strategy as the queue.
    settings: { repeatStrategy: fireRepeatStrategy },
    concurrency,
    // BullMQ creates a schedule's next fire only after a worker has taken the current one: a
    // replica that dies in between stalls that schedule until its lock lapses and a stalled
    // check hands the fire to another replica (then it runs as the one catch-up). Fire jobs
    // last milliseconds, so short locks keep that pause to ~15 s instead of ~60 s.
    lockDuration: SCHEDULER_LOCK_MS,
    stalledInterval: SCHEDULER_LOCK_MS / 2,
    autorun: false,
  });
}

export interface NodeWorkerOptions {
  concurrency: number;
  /** @default 30000 */
  lockDurationMs?: number;
}

/**
 * How long an idle agent's worker blocks on its queue's marker before it looks again (BullMQ
 * `drainDelay`, seconds). A job wakes it at once, so this costs no latency; it only sets how
 * often an idle node polls: ~7 Redis commands a look, so 120 s is ~0.06 commands/s per idle
 * node instead of ~1.4 at BullMQ's default of 5 s (bench/idle-cost.ts). It also bounds how long
 * a silently dead blocking connection goes unnoticed; a closed one is seen at once.
 */
export const NODE_WORKER_DRAIN_SECONDS = 120;

/**
 * How many lock durations apart an agent's worker looks for its node's stalled jobs. With
 * `maxStalledCount: 0` that check only fails the jobs of an earlier, dead process of the agent
 * (never re-running them); the agent itself reports those runs at start (previous-life.ts), so
 * the check needs no hurry: 10 x 30 s by default, ~8 Redis commands each time.
 */
export const NODE_STALLED_CHECK_LOCKS = 10;

/**
 * The agent's consumer of its own node's queue. `maxStalledCount: 0` and
 * `maxStartedAttempts: 1`: a job whose agent died is failed, never handed to another run.
 */
export function makeNodeWorker(
  connection: RedisClient,
  keys: Keys,
  nodeId: string,
  processor: (job: Job<unknown>) => Promise<void>,
  opts: NodeWorkerOptions,
): Worker {
  return new Worker(keys.nodeQueueName(nodeId), processor, {
    connection,
    prefix: keys.nodeQueuePrefix(),
    ...traced(),
    concurrency: opts.concurrency,
    maxStalledCount: 0,
    maxStartedAttempts: 1,
    lockDuration: opts.lockDurationMs ?? 30_000,
    stalledInterval: (opts.lockDurationMs ?? 30_000) * NODE_STALLED_CHECK_LOCKS,
    drainDelay: NODE_WORKER_DRAIN_SECONDS,
    autorun: false,
  });
}

/** What a webhook delivery job carries: the webhook and the backlog entry it is for. */
export interface WebhookJobData {
  webhookId: string;
  eventId: string;
}

/**
 * Id of the delivery job of one backlog entry: one job per webhook and event, so adding it
 * again (the fan-out and the worker both do) is a no-op while it waits, runs or is delayed
 * for a retry. (No `:`, not all digits, as BullMQ requires.)
 */
export function webhookJobId(webhookId: string, eventId: string): string {
  return `d-${webhookId}-${eventId}`;
}

/**
 * A delivery job's attempts are bounded by time (FLEETCMD_WEBHOOK_RETRY_SECONDS, checked by
 * the worker), not by BullMQ's count: this only stops a job that somehow outlives that.
 */
const WEBHOOK_JOB_OPTS = {
  attempts: 100_000,
  backoff: { type: 'webhook' },
  removeOnComplete: true,
  removeOnFail: true,
} as const;

/** Producer side of the webhook delivery queue (`{webhooks}`, docs/webhooks.md). */
export class WebhookQueue {
  private readonly queue: Queue<WebhookJobData>;

  constructor(connection: RedisClient, keys: Keys) {
    this.queue = new Queue<WebhookJobData>(keys.webhookQueueName(), {
      connection,
      prefix: keys.webhookQueuePrefix(),
    });
    this.queue.on('error', () => undefined);
  }

  /** Makes sure the delivery of this backlog entry has a job. */
  async ensure(webhookId: string, eventId: string): Promise<void> {
    await this.queue.add(
      'deliver',
      { webhookId, eventId },
      { ...WEBHOOK_JOB_OPTS, jobId: webhookJobId(webhookId, eventId) },
    );
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}

/**
 * The webhook delivery worker: `retryDelayMs(attemptsMade)` is the wait before each retry
 * (BullMQ's custom backoff). A delivery that was under way when its server died is handed to
 * another worker by the stalled check and sent again: at least once.
 */
export function makeWebhookWorker(
  connection: RedisClient,
  keys: Keys,
  processor: Processor<WebhookJobData>,
  opts: { concurrency: number; retryDelayMs: (attemptsMade: number) => number },
): Worker<WebhookJobData> {
  return new Worker<WebhookJobData>(keys.webhookQueueName(), processor, {
    connection,
    prefix: keys.webhookQueuePrefix(),
    concurrency: opts.concurrency,
    maxStalledCount: 1_000,
    settings: { backoffStrategy: (attemptsMade: number) => opts.retryDelayMs(attemptsMade) },
    autorun: false,
  });
}
