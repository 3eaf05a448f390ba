import type { Job, Worker } from 'bullmq';
import { settleWithin } from '../shared/settle.js';
import { ANNOUNCE_REGISTERED } from '../store/agent-store.js';
import { rolloutTick } from '../app/rollout.js';
import { makeSchedulerWorker } from '../store/queues.js';
import { SchedulerContext } from './context.js';
import type { SchedulerDeps } from './deps.js';
import { DeadlinePoller } from './deadline-poller.js';
import { abortUndelivered } from './delivery.js';
import { deliveryDeadline, dispatch } from './dispatch.js';
import { fire } from './fire.js';
import { fireJobOf, parseSchedulerJob } from './scheduler-job.js';
import { upkeep, upkeepPeriodMs } from './upkeep.js';

/**
 * Scheduler workers. A new invocation is dispatched: a one-off run fans out into one job per
 * node at once; a timed one gets a Scheduled record per node and then fires through BullMQ job
 * schedulers (one per time zone), or at the node's boot (the agent fires those). Each fire fans
 * out into ordinary per-node run jobs, and the delivery deadline of every fan-out (checked by
 * each replica's DeadlinePoller) marks the nodes that never took their job Aborted. Every step is idempotent and every fire is checked
 * against the node's record in one script, so any number of replicas may run them and a retried
 * or repeated job never runs a command twice. This class routes the queue's jobs by kind and
 * listens for agents; each kind's work is in its own module, its decisions in
 * domain/schedule-plan.ts.
 */
export class Scheduler {
  private worker: Worker | undefined;
  /** Nodes already in the registry: agents announce about once a minute, one write is enough. */
  private readonly knownNodes = new Set<string>();
  private readonly ctx: SchedulerContext;
  private readonly deadlines: DeadlinePoller;

  constructor(private readonly deps: SchedulerDeps) {
    this.ctx = new SchedulerContext(deps);
    this.deadlines = new DeadlinePoller(this.ctx);
  }

  async start(): Promise<void> {
    const { deps } = this;
    this.worker = makeSchedulerWorker(
      deps.workerConnection,
      deps.keys,
      (job: Job) => this.process(job),
      deps.concurrency,
    );
    this.worker.on('failed', (job, err) =>
      deps.log.warn({ jobId: job?.id, err: err.message }, 'scheduler job failed'),
    );
    this.worker.on('error', (err) => deps.log.warn({ err: err.message }, 'scheduler worker error'));
    // An agent announces on its own node's channel, so the node id comes from the channel
    // name: a per-node ACL user can announce only itself. The legacy channel (payload: node
    // id) is from agents of earlier versions. Either way the registration is checked first.
    await deps.subscriber.psubscribe(deps.keys.nodeAnnouncePattern());
    await deps.subscriber.subscribe(deps.keys.legacyAnnounceChannel());
    deps.subscriber.on('pmessage', (_pattern: string, channel: string, message: string) => {
      const nodeId = deps.keys.nodeIdOfAnnounce(channel);
      if (nodeId !== undefined) this.remember(nodeId, message === ANNOUNCE_REGISTERED);
    });
    deps.subscriber.on('message', (channel: string, nodeId: string) => {
      if (channel === deps.keys.legacyAnnounceChannel()) this.remember(nodeId, false);
    });
    void this.worker
      .run()
      .catch((err: unknown) => deps.log.error({ err: String(err) }, 'scheduler worker stopped'));
    await this.worker.waitUntilReady();
    this.deadlines.start();
    // Schedules live in Redis and need nothing from a starting server; upkeep only repairs and
    // retires (see upkeep()), so it runs in the background now and then every minute (less
    // with a short FLEETCMD_NODE_LOST_SECONDS) on whichever replica takes the job.
    await deps.schedulerQueue.ensureUpkeep(upkeepPeriodMs(this.ctx));
    this.upkeep().catch((err: unknown) =>
      deps.log.warn({ err: String(err) }, 'schedule upkeep failed'),
    );
  }

  /**
   * Adds an announced node to the registry once it is known to have registered, and takes the
   * tags its agent reported: when first heard of here, and after each registration.
   */
  private remember(nodeId: string, registered: boolean): void {
    if (this.knownNodes.has(nodeId) && !registered) return;
    const { nodes } = this.deps;
    nodes
      .remember(nodeId)
      .then(async (known) => {
        if (!known) return;
        await nodes.takeReportedTags(nodeId);
        this.knownNodes.add(nodeId);
      })
      .catch((err: unknown) =>
        this.deps.log.warn({ nodeId, err: String(err) }, 'could not record node'),
      );
  }

  /** Runs one scheduler job; a job of a kind this version does not know is dropped. */
  async process(job: Job): Promise<void> {
    const parsed = parseSchedulerJob(job);
    switch (parsed?.kind) {
      case undefined:
        return;
      case 'upkeep':
        return this.upkeep();
      case 'dispatch':
        return this.dispatch(parsed.invokeId);
      // Delivery deadlines are no jobs any more (DeadlinePoller); these two kinds are jobs an
      // earlier version queued, still checked when they come due.
      case 'deliveryTimeout':
        return this.deliveryTimeout(parsed.invokeId);
      case 'fire':
        return fire(this.ctx, parsed);
      case 'rolloutTick':
        return rolloutTick(parsed.invokeId, parsed.fire, this.deps);
      case 'fireWatch':
        return abortUndelivered(
          this.ctx,
          parsed.data.invokeId,
          parsed.data.nodeIds,
          parsed.data.fire,
        );
    }
  }

  /** Creates each node's record and, for a one-off run, enqueues its job at once. */
  dispatch(invokeId: string): Promise<void> {
    return dispatch(this.ctx, invokeId);
  }

  /** One fire of one schedule (see fire.ts). */
  fire(job: Job): Promise<void> {
    return fire(this.ctx, fireJobOf(job));
  }

  /**
   * Nodes that never took a one-off run's job by the deadline become Aborted (a fan-out cut
   * short is finished instead, see deliveryDeadline).
   */
  deliveryTimeout(invokeId: string): Promise<void> {
    return deliveryDeadline(this.ctx, invokeId);
  }

  /** Upkeep of timed invocations (see upkeep.ts). */
  upkeep(): Promise<void> {
    return upkeep(this.ctx);
  }

  async close(): Promise<void> {
    await this.deadlines.close();
    // With Redis away there is nothing to hand back cleanly: do not wait for it.
    await this.worker?.close(this.deps.workerConnection.status !== 'ready');
    // Named: ioredis never settles a bare punsubscribe()/unsubscribe() on a connection that
    // holds both a pattern and a channel, which cost every close 2 s (both bounds).
    const { keys, subscriber } = this.deps;
    await settleWithin(
      Promise.all([
        subscriber.punsubscribe(keys.nodeAnnouncePattern()),
        subscriber.unsubscribe(keys.legacyAnnounceChannel()),
      ]),
      1_000,
    );
  }
}
