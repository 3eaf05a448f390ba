import type { Job, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import {
  cronWindow,
  nextFire,
  normalizeZone,
  parseFrequency,
  yearAllowed,
  type Frequency,
} from '../domain/frequency.js';
import type { Invocation } from '../domain/invocation.js';
import { isOnline } from '../domain/node.js';
import { RUN_ERRORS } from '../domain/run-errors.js';
import type { BootTrigger, RunJob } from '../domain/run-job.js';
import type { Logger } from '../log.js';
import type { InvocationStore, ScheduleGroup } from '../store/invocation-store.js';
import type { Keys } from '../store/keys.js';
import type { NodeStore } from '../store/node-store.js';
import {
  fireDueMs,
  makeSchedulerWorker,
  oneFireId,
  scheduleId,
  type FireData,
  type FireWatchData,
  type NodeQueues,
  type ScheduleRepeat,
  type SchedulerQueue,
} from '../store/queues.js';
import type { RunStore } from '../store/run-store.js';
import { settleWithin } from '../settle.js';

export interface SchedulerDeps {
  invocations: InvocationStore;
  runs: RunStore;
  nodes: NodeStore;
  nodeQueues: NodeQueues;
  /** For the jobs the scheduler adds itself (schedules, per-fire delivery checks). */
  schedulerQueue: SchedulerQueue;
  /** A worker-profile connection for the scheduler queue's consumer. */
  workerConnection: Redis;
  /** A subscriber connection for agents' announcements. */
  subscriber: Redis;
  keys: Keys;
  log: Logger;
  deliveryTimeoutSeconds: number;
  /** @default 8 */
  concurrency?: number;
  /** @default Date.now */
  clock?: () => number;
}

/** Nodes fanned out per batch: bounds the number of Redis calls in flight at once. */
const FAN_OUT_BATCH = 500;

/** Invocations (with their parsed Frequency) kept in memory: both are immutable once created. */
const CACHE_LIMIT = 10_000;

export function toRunJob(inv: Invocation, fire = ''): RunJob {
  return {
    invokeId: inv.invokeId,
    fire,
    commandId: inv.commandId,
    content: inv.content.toString('base64'),
    username: inv.username,
    workingDir: inv.workingDir,
    timeoutSeconds: inv.timeoutSeconds,
    terminationMode: inv.terminationMode,
    launcher: inv.launcher,
  };
}

/** Results of fcRunFire that leave nothing to do on that node now or later. */
const FIRE_DONE: ReadonlySet<string> = new Set(['Ended', 'Missing']);

/**
 * Scheduler workers. A new invocation is dispatched: a one-off run fans out into one job per
 * node at once; a timed one gets a Scheduled record per node and then fires through BullMQ job
 * schedulers (one per time zone), or at the node's boot (the agent fires those). Each fire fans
 * out into ordinary per-node run jobs, and the delivery deadline of every fan-out marks the
 * nodes that never took their job Aborted. Every step is idempotent and every fire is checked
 * against the node's record in one script, so any number of replicas may run them and a retried
 * or repeated job never runs a command twice.
 */
export class Scheduler {
  private worker: Worker | undefined;
  /** Nodes already in the registry: agents announce every heartbeat, one write is enough. */
  private readonly knownNodes = new Set<string>();
  private readonly cache = new Map<string, { inv: Invocation; freq: Frequency | undefined }>();

  constructor(private readonly deps: SchedulerDeps) {}

  private now(): number {
    return (this.deps.clock ?? Date.now)();
  }

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
    // Schedules live in Redis and need nothing from a starting server; this only repairs a
    // schedule that is missing (a dispatch cut short), so it runs in the background.
    this.reassertSchedules().catch((err: unknown) =>
      deps.log.warn({ err: String(err) }, 'schedules not re-asserted'),
    );
  }

  async process(job: Job): Promise<void> {
    const data = job.data as { invokeId?: unknown };
    if (typeof data.invokeId !== 'string') return;
    if (job.name === 'dispatch') await this.dispatch(data.invokeId);
    else if (job.name === 'deliveryTimeout') await this.deliveryTimeout(data.invokeId);
    else if (job.name === 'fire') await this.fire(job);
    else if (job.name === 'fireWatch') {
      const w = job.data as FireWatchData;
      await this.abortLate(w.invokeId, w.nodeIds, w.fire);
    }
  }

  /** The invocation and its parsed Frequency, from memory when seen before. */
  private async load(
    invokeId: string,
  ): Promise<{ inv: Invocation; freq: Frequency | undefined } | undefined> {
    const hit = this.cache.get(invokeId);
    if (hit) return hit;
    const inv = await this.deps.invocations.get(invokeId);
    if (!inv) return undefined;
    // Validated when created; parsing against its creation time gives the same result again.
    const freq =
      inv.frequency === ''
        ? undefined
        : parseFrequency(inv.frequency, { nowMs: inv.createdMs, minIntervalSeconds: 0 });
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    const entry = { inv, freq };
    this.cache.set(invokeId, entry);
    return entry;
  }

  /** Creates each node's record and, for a one-off run, enqueues its job at once. */
  async dispatch(invokeId: string): Promise<void> {
    const { deps } = this;
    const loaded = await this.load(invokeId);
    if (!loaded) throw new Error(`invocation ${invokeId} not found`);
    const { inv, freq } = loaded;
    if (inv.repeatMode !== 'Once') {
      await this.dispatchTimed(inv, freq);
      return;
    }
    const data = toRunJob(inv);
    await this.forNodes(inv.nodeIds, async (nodeId) => {
      await deps.runs.create(nodeId, invokeId);
      // Enqueue whenever the record is (still) Pending: a retried dispatch re-adds a job
      // with the same id, which BullMQ ignores, and a record already claimed, stopped or
      // aborted makes the agent skip any job it still finds.
      await deps.nodeQueues.addRun(nodeId, data);
    });
    deps.log.debug({ invokeId, nodes: inv.nodeIds.length }, 'dispatched');
  }

  private async forNodes(
    nodeIds: readonly string[],
    each: (nodeId: string) => Promise<void>,
  ): Promise<void> {
    for (let i = 0; i < nodeIds.length; i += FAN_OUT_BATCH) {
      await Promise.all(nodeIds.slice(i, i + FAN_OUT_BATCH).map(each));
    }
  }

  private async dispatchTimed(inv: Invocation, freq: Frequency | undefined): Promise<void> {
    const { deps } = this;
    const boot = inv.repeatMode === 'NextRebootOnly' || inv.repeatMode === 'EveryReboot';
    const bootTrigger = boot
      ? JSON.stringify({
          final: inv.repeatMode === 'NextRebootOnly',
          job: toRunJob(inv),
        } satisfies BootTrigger)
      : undefined;
    await this.forNodes(inv.nodeIds, async (nodeId) => {
      await deps.runs.create(nodeId, inv.invokeId, bootTrigger ? { bootTrigger } : {});
    });
    if (!freq) {
      deps.log.debug({ invokeId: inv.invokeId, mode: inv.repeatMode }, 'boot triggers recorded');
      return;
    }
    // A retried dispatch reuses the groups recorded first, so schedule ids never change.
    const groups = await deps.invocations.recordSchedules(
      inv.invokeId,
      await this.scheduleGroups(inv, freq),
    );
    await this.assertSchedules(inv, freq, groups, false);
    // A stop that came before the schedules existed could not remove them.
    if ((await deps.invocations.stoppedMs(inv.invokeId)) !== undefined) {
      await this.removeSchedules(groups);
    }
    deps.log.debug({ invokeId: inv.invokeId, schedules: groups.length }, 'schedules created');
  }

  /**
   * One schedule per time zone: a cron expression without a zone fires at each node's own
   * reported zone, so nodes are grouped by it; every other form needs one schedule.
   */
  private async scheduleGroups(inv: Invocation, freq: Frequency): Promise<ScheduleGroup[]> {
    const { nodeIds } = inv;
    if (freq.kind === 'at') return [{ id: oneFireId(inv.invokeId), zone: '', nodeIds }];
    if (freq.kind === 'rate') return [{ id: scheduleId(inv.invokeId, 0), zone: '', nodeIds }];
    if (freq.zone !== undefined) {
      return [{ id: scheduleId(inv.invokeId, 0), zone: freq.zone, nodeIds }];
    }
    const byZone = new Map<string, string[]>();
    for (const nodeId of nodeIds) {
      const zone = this.nodeZone((await this.deps.nodes.get(nodeId))?.timeZone ?? '');
      byZone.set(zone, [...(byZone.get(zone) ?? []), nodeId]);
    }
    return [...byZone.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([zone, ids], i) => ({ id: scheduleId(inv.invokeId, i), zone, nodeIds: ids }));
  }

  /** A node's reported zone as a schedule can use it; UTC when it reported none we know. */
  private nodeZone(reported: string): string {
    if (reported === '') return 'UTC';
    try {
      return normalizeZone(reported);
    } catch {
      this.deps.log.warn({ zone: reported }, 'node reports an unknown time zone; using UTC');
      return 'UTC';
    }
  }

  /** Creates each group's schedule (only the missing ones when `onlyMissing`). */
  private async assertSchedules(
    inv: Invocation,
    freq: Frequency,
    groups: readonly ScheduleGroup[],
    onlyMissing: boolean,
  ): Promise<void> {
    const { deps } = this;
    const now = this.now();
    for (const g of groups) {
      const data: FireData = { invokeId: inv.invokeId, nodeIds: g.nodeIds, zone: g.zone };
      if (freq.kind === 'at') {
        // A fixed job id: adding it again while it waits changes nothing, and a fire that
        // already happened is refused by every node's record.
        await deps.schedulerQueue.addOneFire(g.id, freq.atMs - now, { ...data, fireMs: freq.atMs });
        continue;
      }
      if (onlyMissing && (await deps.schedulerQueue.hasSchedule(g.id))) continue;
      const zone = g.zone === '' ? undefined : g.zone;
      const next = nextFire(freq, now, { createdMs: inv.createdMs, ...(zone ? { zone } : {}) });
      if (next === undefined) {
        // Accepted because a node somewhere could still run it, but not in this group's zone:
        // these nodes' schedules are over before they began.
        await this.forNodes(g.nodeIds, async (nodeId) => {
          await deps.runs.stop(nodeId, inv.invokeId);
        });
        deps.log.info({ invokeId: inv.invokeId, zone: g.zone }, 'schedule has no fire left');
        await this.endIfOver(inv);
        continue;
      }
      let repeat: ScheduleRepeat;
      if (freq.kind === 'rate') {
        // Aligned to creation + k·period: the first fire is one period after creation (or,
        // when re-asserted later, the next such slot).
        repeat = { every: freq.everyMs, startDate: next };
      } else {
        const window = cronWindow(freq, now, zone);
        repeat = {
          pattern: freq.pattern,
          tz: zone ?? 'UTC',
          ...(window.startMs !== undefined ? { startDate: window.startMs } : {}),
          ...(window.endMs !== undefined ? { endDate: window.endMs } : {}),
        };
      }
      await deps.schedulerQueue.upsertSchedule(g.id, repeat, data);
    }
  }

  private async removeSchedules(groups: readonly ScheduleGroup[]): Promise<void> {
    await this.deps.schedulerQueue.removeSchedules(groups.map((g) => g.id));
  }

  /**
   * At start: repairs missing schedules of invocations that may still fire, and retires those
   * that no longer may (a NextRebootOnly invocation ends on its node, with no server watching).
   */
  async reassertSchedules(): Promise<void> {
    const { deps } = this;
    for (const invokeId of await deps.invocations.timedIds()) {
      const loaded = await this.load(invokeId);
      if (!loaded) {
        await deps.invocations.markEnded(invokeId);
        continue;
      }
      if (await this.endIfOver(loaded.inv)) continue;
      const groups = await deps.invocations.schedules(invokeId);
      if (!loaded.freq || !groups) continue;
      if ((await deps.invocations.stoppedMs(invokeId)) !== undefined) {
        await this.removeSchedules(groups);
        continue;
      }
      await this.assertSchedules(loaded.inv, loaded.freq, groups, true);
    }
  }

  /**
   * One fire of one schedule: each of its nodes whose record takes the fire gets a run job; a
   * node still busy with the previous run skips it (counted on its record). The last fire of a
   * schedule ends it, and a schedule none of whose nodes can fire any more removes itself.
   */
  async fire(job: Job): Promise<void> {
    const { deps } = this;
    const data = job.data as FireData;
    const dueMs = fireDueMs(job);
    const groupId = job.repeatJobKey ?? job.id ?? '';
    const loaded = await this.load(data.invokeId);
    if (!loaded?.freq || dueMs === undefined) {
      deps.log.warn({ jobId: job.id }, 'fire of an unknown invocation; schedule removed');
      if (job.repeatJobKey) await deps.schedulerQueue.removeSchedules([job.repeatJobKey]);
      return;
    }
    const { inv, freq } = loaded;
    const zone = data.zone === '' ? undefined : data.zone;
    if (freq.kind === 'cron' && !yearAllowed(freq, dueMs, zone)) return;
    const final =
      freq.kind === 'at' ||
      nextFire(freq, dueMs, { createdMs: inv.createdMs, ...(zone ? { zone } : {}) }) === undefined;
    const fireId = `f${dueMs}`;
    const runJob = toRunJob(inv, fireId);
    const fired: string[] = [];
    const done: string[] = [];
    await this.forNodes(data.nodeIds, async (nodeId) => {
      const r = await deps.runs.fire(nodeId, inv.invokeId, fireId, dueMs, final);
      if (r === 'Fired' || r === 'Already') {
        await deps.nodeQueues.addRun(nodeId, runJob);
        fired.push(nodeId);
      } else if (FIRE_DONE.has(r)) {
        done.push(nodeId);
      } else if (r === 'Skipped') {
        deps.log.info({ invokeId: inv.invokeId, nodeId, fireId }, 'fire skipped: node busy');
      }
    });
    if (fired.length > 0) {
      await deps.schedulerQueue.addFireWatch(
        `x-${groupId}-${fireId}`,
        deps.deliveryTimeoutSeconds * 1000,
        { invokeId: inv.invokeId, nodeIds: fired, fire: fireId },
      );
    }
    if (final || done.length === data.nodeIds.length) {
      if (job.repeatJobKey) await deps.schedulerQueue.removeSchedules([job.repeatJobKey]);
      await this.endIfOver(inv);
    }
  }

  /**
   * Once no node of an invocation may fire again (every record exists and is no longer timed),
   * it leaves the timed set and expires. Answers whether it ended.
   */
  private async endIfOver(inv: Invocation): Promise<boolean> {
    const runs = await this.deps.runs.read(inv.invokeId, inv.nodeIds, false);
    const over = inv.nodeIds.every((id) => runs.get(id)?.timed === false);
    if (over) await this.deps.invocations.markEnded(inv.invokeId);
    return over;
  }

  /** Nodes that never took a one-off run's job by the deadline become Aborted. */
  async deliveryTimeout(invokeId: string): Promise<void> {
    const inv = await this.deps.invocations.get(invokeId);
    if (inv) await this.abortLate(invokeId, inv.nodeIds, '');
  }

  /** Of these nodes, those whose run of `fire` is still Pending become Aborted. */
  private async abortLate(invokeId: string, nodeIds: readonly string[], fire: string) {
    const { deps } = this;
    const runs = await deps.runs.read(invokeId, nodeIds, false);
    const late = nodeIds.filter((id) => {
      const r = runs.get(id);
      return r === undefined || (r.status === 'Pending' && r.fire === fire);
    });
    const now = late.length > 0 ? await deps.nodes.nowMs() : 0;
    for (const nodeId of late) {
      const info = await deps.nodes.get(nodeId);
      const online = info !== undefined && isOnline(info, now);
      const code = online ? 'DeliveryTimeout' : 'ClientNotRunning';
      const result = await deps.runs.abort(nodeId, invokeId, code, RUN_ERRORS[code], fire);
      if (result === 'Aborted') {
        await deps.nodeQueues.removeWaitingRun(nodeId, invokeId, fire).catch(() => false);
        deps.log.info({ invokeId, nodeId, code, fire }, 'run aborted: not delivered in time');
      }
    }
  }

  async close(): Promise<void> {
    // With Redis away there is nothing to hand back cleanly: do not wait for it.
    await this.worker?.close(this.deps.workerConnection.status !== 'ready');
    await settleWithin(this.deps.subscriber.unsubscribe(), 1_000);
  }
}
