import type { Job, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Invocation } from '../domain/invocation.js';
import { isOnline } from '../domain/node.js';
import { RUN_ERRORS } from '../domain/run-errors.js';
import type { RunJob } from '../domain/run-job.js';
import type { Logger } from '../log.js';
import type { InvocationStore } from '../store/invocation-store.js';
import type { Keys } from '../store/keys.js';
import type { NodeStore } from '../store/node-store.js';
import { makeSchedulerWorker, type NodeQueues } from '../store/queues.js';
import type { RunStore } from '../store/run-store.js';
import { settleWithin } from '../settle.js';

export interface SchedulerDeps {
  invocations: InvocationStore;
  runs: RunStore;
  nodes: NodeStore;
  nodeQueues: NodeQueues;
  /** A worker-profile connection for the scheduler queue's consumer. */
  workerConnection: Redis;
  /** A subscriber connection for agents' announcements. */
  subscriber: Redis;
  keys: Keys;
  log: Logger;
  /** @default 8 */
  concurrency?: number;
}

/** Nodes fanned out per batch: bounds the number of Redis calls in flight at once. */
const FAN_OUT_BATCH = 500;

export function toRunJob(inv: Invocation): RunJob {
  return {
    invokeId: inv.invokeId,
    commandId: inv.commandId,
    content: inv.content.toString('base64'),
    username: inv.username,
    workingDir: inv.workingDir,
    timeoutSeconds: inv.timeoutSeconds,
    terminationMode: inv.terminationMode,
    launcher: inv.launcher,
  };
}

/**
 * Scheduler workers: fan a new invocation out into one job per node, and at the delivery
 * deadline mark every node that never took its job as Aborted. Both are idempotent, so any
 * number of replicas may run them and a retried job changes nothing twice.
 */
export class Scheduler {
  private worker: Worker | undefined;
  /** Nodes already in the registry: agents announce every heartbeat, one write is enough. */
  private readonly knownNodes = new Set<string>();

  constructor(private readonly deps: SchedulerDeps) {}

  async start(): Promise<void> {
    const { deps } = this;
    this.worker = makeSchedulerWorker(
      deps.workerConnection,
      deps.keys,
      (job: Job) => this.process(job),
      deps.concurrency ?? 8,
    );
    this.worker.on('failed', (job, err) =>
      deps.log.warn({ jobId: job?.id, err: err.message }, 'scheduler job failed'),
    );
    this.worker.on('error', (err) => deps.log.warn({ err: err.message }, 'scheduler worker error'));
    await deps.subscriber.subscribe(deps.keys.announceChannel());
    deps.subscriber.on('message', (channel: string, nodeId: string) => {
      if (channel !== deps.keys.announceChannel() || this.knownNodes.has(nodeId)) return;
      deps.nodes
        .remember(nodeId)
        .then((known) => known && this.knownNodes.add(nodeId))
        .catch((err: unknown) =>
          deps.log.warn({ nodeId, err: String(err) }, 'could not record node'),
        );
    });
    void this.worker
      .run()
      .catch((err: unknown) => deps.log.error({ err: String(err) }, 'scheduler worker stopped'));
    await this.worker.waitUntilReady();
  }

  async process(job: Job): Promise<void> {
    const invokeId = (job.data as { invokeId?: unknown }).invokeId;
    if (typeof invokeId !== 'string') return;
    if (job.name === 'dispatch') await this.dispatch(invokeId);
    else if (job.name === 'deliveryTimeout') await this.deliveryTimeout(invokeId);
  }

  /** Creates each node's Pending record and enqueues its run job (skips nodes already stopped). */
  async dispatch(invokeId: string): Promise<void> {
    const { deps } = this;
    const inv = await deps.invocations.get(invokeId);
    if (!inv) throw new Error(`invocation ${invokeId} not found`);
    const data = toRunJob(inv);
    for (let i = 0; i < inv.nodeIds.length; i += FAN_OUT_BATCH) {
      const batch = inv.nodeIds.slice(i, i + FAN_OUT_BATCH);
      await Promise.all(
        batch.map(async (nodeId) => {
          await deps.runs.create(nodeId, invokeId);
          // Enqueue whenever the record is (still) Pending: a retried dispatch re-adds a job
          // with the same id, which BullMQ ignores, and a record already claimed, stopped or
          // aborted makes the agent skip any job it still finds.
          await deps.nodeQueues.addRun(nodeId, data);
        }),
      );
    }
    deps.log.debug({ invokeId, nodes: inv.nodeIds.length }, 'dispatched');
  }

  /** Nodes that never took their job by the deadline become Aborted. */
  async deliveryTimeout(invokeId: string): Promise<void> {
    const { deps } = this;
    const inv = await deps.invocations.get(invokeId);
    if (!inv) return;
    const runs = await deps.runs.read(invokeId, inv.nodeIds, false);
    const late = inv.nodeIds.filter((id) => {
      const st = runs.get(id)?.status;
      return st === undefined || st === 'Pending';
    });
    const now = late.length > 0 ? await deps.nodes.nowMs() : 0;
    for (const nodeId of late) {
      const info = await deps.nodes.get(nodeId);
      const online = info !== undefined && isOnline(info, now);
      const code = online ? 'DeliveryTimeout' : 'ClientNotRunning';
      const result = await deps.runs.abort(nodeId, invokeId, code, RUN_ERRORS[code]);
      if (result === 'Aborted') {
        await deps.nodeQueues.removeWaitingRun(nodeId, invokeId).catch(() => false);
        deps.log.info({ invokeId, nodeId, code }, 'run aborted: not delivered in time');
      }
    }
  }

  async close(): Promise<void> {
    // With Redis away there is nothing to hand back cleanly: do not wait for it.
    await this.worker?.close(this.deps.workerConnection.status !== 'ready');
    await settleWithin(this.deps.subscriber.unsubscribe(), 1_000);
  }
}
