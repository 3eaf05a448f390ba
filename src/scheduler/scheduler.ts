import type { Job, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import {
  cronWindow,
  latestFire,
  nextFire,
  normalizeZone,
  parseFrequency,
  yearAllowed,
  type Frequency,
} from '../domain/frequency.js';
import { invocationKind, type Invocation } from '../domain/invocation.js';
import { isOnline } from '../domain/node.js';
import { RUN_ERRORS } from '../domain/run-errors.js';
import type { BootTrigger, RunJob } from '../domain/run-job.js';
import type { Logger } from '../shared/log.js';
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
import { settleWithin } from '../shared/settle.js';
import { stopInvocationNodes } from '../app/stop-invocation.js';

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
  workerConnection: Redis;
  /** A subscriber connection for agents' announcements. */
  subscriber: Redis;
  keys: Keys;
  log: Logger;
  deliveryTimeoutSeconds: number;
  /** Scheduler jobs in parallel per replica (FLEETCMD_SCHEDULER_CONCURRENCY, default 32). */
  concurrency: number;
  /** @default Date.now */
  clock?: () => number;
  /** @default none: latencies are not observed */
  metrics?: SchedulerMetrics;
}

/**
 * Nodes fanned out per batch: bounds the number of Redis calls in flight at once, and how long
 * a fan-out holds the event loop before it yields (with `--role all` the API answering in the
 * same process waits for that).
 */
const FAN_OUT_BATCH = 100;

/** How often a scheduler repairs missing schedules and retires ended invocations. */
const UPKEEP_EVERY_MS = 60_000;

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
    enableParameter: inv.enableParameter,
    // Each node replaces the parameters itself: the built-ins differ per node.
    parameters: inv.enableParameter ? inv.parameters : {},
    // A sent file: the agent writes `content` to this file instead of running it.
    ...(inv.file
      ? {
          file: {
            name: inv.name,
            targetDir: inv.file.targetDir,
            mode: parseInt(inv.file.fileMode, 8),
            owner: inv.file.fileOwner,
            group: inv.file.fileGroup,
            overwrite: inv.file.overwrite,
          },
        }
      : {}),
  };
}

/** The time a command invocation is listed at in its nodes' indexes (sent files are not). */
function listedOnNodes(inv: Invocation): number | undefined {
  return invocationKind(inv) === 'command' ? inv.createdMs : undefined;
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
    deps.subscriber.on('pmessage', (_pattern: string, channel: string) => {
      const nodeId = deps.keys.nodeIdOfAnnounce(channel);
      if (nodeId !== undefined) this.remember(nodeId);
    });
    deps.subscriber.on('message', (channel: string, nodeId: string) => {
      if (channel === deps.keys.legacyAnnounceChannel()) this.remember(nodeId);
    });
    void this.worker
      .run()
      .catch((err: unknown) => deps.log.error({ err: String(err) }, 'scheduler worker stopped'));
    await this.worker.waitUntilReady();
    // Schedules live in Redis and need nothing from a starting server; upkeep only repairs and
    // retires (see upkeep()), so it runs in the background now and then every minute on
    // whichever replica takes the job.
    await deps.schedulerQueue.ensureUpkeep(UPKEEP_EVERY_MS);
    this.upkeep().catch((err: unknown) =>
      deps.log.warn({ err: String(err) }, 'schedule upkeep failed'),
    );
  }

  /** Adds an announced node to the registry once it is known to have registered. */
  private remember(nodeId: string): void {
    if (this.knownNodes.has(nodeId)) return;
    this.deps.nodes
      .remember(nodeId)
      .then((known) => known && this.knownNodes.add(nodeId))
      .catch((err: unknown) =>
        this.deps.log.warn({ nodeId, err: String(err) }, 'could not record node'),
      );
  }

  async process(job: Job): Promise<void> {
    if (job.name === 'upkeep') {
      await this.upkeep();
      return;
    }
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
    // Validated when it was accepted; parsed again as of 1970 so that no check that depends on
    // the time of day (an at() in the past, a year range over) can refuse it now.
    const freq =
      inv.frequency === ''
        ? undefined
        : parseFrequency(inv.frequency, { nowMs: 0, minIntervalSeconds: 0 });
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
    const listedMs = listedOnNodes(inv);
    await this.forNodes(inv.nodeIds, async (nodeId) => {
      await deps.runs.create(nodeId, invokeId, listedMs);
      // Enqueue whenever the record is (still) Pending: a retried dispatch re-adds a job
      // with the same id, which BullMQ ignores, and a record already claimed, stopped or
      // aborted makes the agent skip any job it still finds.
      await deps.nodeQueues.addRun(nodeId, data);
    });
    // Only the attempt that completes the dispatch first observes it (a retried job does not).
    if (await deps.invocations.markDispatched(invokeId, this.now())) {
      deps.metrics?.observeDispatchSeconds((this.now() - inv.createdMs) / 1000);
    }
    deps.log.debug({ invokeId, nodes: inv.nodeIds.length }, 'dispatched');
  }

  private async forNodes(
    nodeIds: readonly string[],
    each: (nodeId: string) => Promise<void>,
  ): Promise<void> {
    for (let i = 0; i < nodeIds.length; i += FAN_OUT_BATCH) {
      if (i > 0) await new Promise((r) => setImmediate(r));
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
    const listedMs = listedOnNodes(inv);
    await this.forNodes(inv.nodeIds, async (nodeId) => {
      await deps.runs.create(nodeId, inv.invokeId, listedMs, bootTrigger ? { bootTrigger } : {});
    });
    if (freq) {
      // A retried dispatch reuses the groups recorded first, so schedule ids never change.
      const groups = await deps.invocations.recordSchedules(
        inv.invokeId,
        await this.scheduleGroups(inv, freq),
      );
      await this.assertSchedules(inv, freq, groups, false);
      // A stop that came before the schedules existed could not remove them.
      if ((await deps.invocations.progress(inv.invokeId)).stoppedMs !== undefined) {
        await this.removeSchedules(groups);
      }
    }
    await deps.invocations.markDispatched(inv.invokeId, this.now());
    deps.log.debug({ invokeId: inv.invokeId, mode: inv.repeatMode }, 'timed invocation dispatched');
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
      if (onlyMissing) {
        if (await deps.schedulerQueue.hasSchedule(g.id)) continue;
        // A group whose nodes all ended (stopped, or their last fire taken) needs no schedule.
        const runs = await deps.runs.read(inv.invokeId, g.nodeIds, false);
        if (g.nodeIds.every((id) => runs.get(id)?.timed !== true)) continue;
      }
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
   * Upkeep of timed invocations, at start and every minute: finishes a whole stop that was cut
   * short, retires invocations none of whose nodes may fire again (a NextRebootOnly invocation
   * ends on its node, with no server watching), and re-creates schedules that went missing.
   * Each invocation on its own: one that fails is logged and retried next time.
   */
  async upkeep(): Promise<void> {
    const { deps } = this;
    // Once per deployment (then a cached flag): index older invocations by node.
    const walked = await deps.invocations.backfillNodeIndexes(this.now());
    if (walked > 0) deps.log.info({ walked }, 'invocations added to the per-node indexes');
    for (const invokeId of await deps.invocations.timedIds()) {
      try {
        await this.upkeepOne(invokeId);
      } catch (err) {
        deps.log.warn({ invokeId, err: String(err) }, 'schedule upkeep failed for invocation');
      }
    }
  }

  private async upkeepOne(invokeId: string): Promise<void> {
    const { deps } = this;
    const loaded = await this.load(invokeId);
    if (!loaded) {
      await deps.invocations.markEnded(invokeId);
      return;
    }
    const { inv, freq } = loaded;
    const { dispatchedMs, stoppedMs } = await deps.invocations.progress(invokeId);
    if (stoppedMs !== undefined) {
      await stopInvocationNodes(inv, inv.nodeIds, { ...deps, clock: () => this.now() });
      return;
    }
    if (dispatchedMs === undefined) {
      // Its dispatch job is still to run, or gave up (Redis away through all its attempts):
      // a minute on, dispatch it here (every step is idempotent).
      if (this.now() - inv.createdMs > UPKEEP_EVERY_MS) await this.dispatchTimed(inv, freq);
      return;
    }
    if (await this.endIfOver(inv)) return;
    const groups = await deps.invocations.schedules(invokeId);
    if (freq && groups) await this.assertSchedules(inv, freq, groups, true);
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
    const opts = { createdMs: inv.createdMs, ...(zone ? { zone } : {}) };
    const { fireMs, next } = await this.currentSlot(job, freq, dueMs, opts);
    if (fireMs !== dueMs) {
      deps.log.info(
        {
          invokeId: inv.invokeId,
          fireId: `f${dueMs}`,
          supersededBy: `f${fireMs}`,
          lateMs: this.now() - dueMs,
        },
        'fire skipped: a later slot was due when its job was taken',
      );
    }
    // The slot after the fired one: already known when it is the job's own.
    const after = fireMs === dueMs ? next : nextFire(freq, fireMs, opts);
    const final = freq.kind === 'at' || after === undefined;
    const fansOut = freq.kind !== 'cron' || yearAllowed(freq, fireMs, zone);
    const { allEnded, fired } = fansOut
      ? await this.fanOut(inv, data.nodeIds, fireMs, final, groupId, fireMs !== dueMs)
      : { allEnded: false, fired: false };
    // Only an attempt that took the fire on some node observes it: a retried fire job finds
    // its fire already taken ('Already') everywhere it had been.
    if (fired) deps.metrics?.observeFireLagSeconds((this.now() - fireMs) / 1000);
    // The schedule's last fire, or none of its nodes may fire any more (each was stopped): the
    // schedule goes (an at() has no scheduler, only this job).
    if (final || allEnded) {
      if (job.repeatJobKey) await deps.schedulerQueue.removeSchedules([job.repeatJobKey]);
      await this.endIfOver(inv);
    }
  }

  /**
   * The slot a schedule's fire job fires: its own, unless it was taken after a later slot was
   * due. BullMQ makes a schedule's next job when it hands out the current one, at the first
   * slot after that moment, so the slots in between got no job at all. The latest of them is
   * then the schedule's current slot, and it is fired instead: the one catch-up run of SPEC §3
   * (missed fires are not back-filled), as close to its time as it can be, whether the job was
   * late because every scheduler was down or because a starved one took it late. The job's own
   * slot is counted as skipped on each node that takes the later one. Where BullMQ put the next
   * job is read, not guessed, so a slot that has a job of its own is left to it; a retried job
   * reads the same and picks the same slot, which its nodes then find taken.
   */
  private async currentSlot(
    job: Job,
    freq: Frequency,
    dueMs: number,
    opts: { createdMs: number; zone?: string },
  ): Promise<{ fireMs: number; next: number | undefined }> {
    const now = this.now();
    // The slot after the job's own (undefined: none, or an at()).
    const next = freq.kind === 'at' ? undefined : nextFire(freq, dueMs, opts);
    // On time (the next slot is still to come), or a one-off job: its own slot.
    if (next === undefined || next > now || !job.repeatJobKey) return { fireMs: dueMs, next };
    const scheduled = await this.deps.schedulerQueue.scheduledNext(job.repeatJobKey);
    // No successor (the schedule has ended for BullMQ, or is gone): every slot up to now.
    const until = scheduled !== undefined && scheduled > dueMs ? Math.min(scheduled - 1, now) : now;
    return { fireMs: latestFire(freq, dueMs, until, opts) ?? dueMs, next };
  }

  /**
   * Fans one fire out to its nodes (with `passedOver`, each node that takes it also counts the
   * fire job's own, earlier slot as skipped); answers whether every one of them had already
   * ended, and whether this call took the fire on any node (queued a new run job).
   */
  private async fanOut(
    inv: Invocation,
    nodeIds: string[],
    dueMs: number,
    final: boolean,
    groupId: string,
    passedOver: boolean,
  ): Promise<{ allEnded: boolean; fired: boolean }> {
    const { deps } = this;
    const fireId = `f${dueMs}`;
    // The deadline first: a replica that dies mid-fan-out leaves no node Pending unwatched.
    await deps.schedulerQueue.addFireWatch(
      `x-${groupId}-${fireId}`,
      deps.deliveryTimeoutSeconds * 1000,
      { invokeId: inv.invokeId, nodeIds, fire: fireId },
    );
    let done = 0;
    let fired = false;
    await this.forNodes(nodeIds, async (nodeId) => {
      const r = await deps.runs.fire(nodeId, inv.invokeId, fireId, dueMs, final, passedOver);
      const result = r.outcome;
      if (result === 'Fired') fired = true;
      if (result === 'Fired' || result === 'Already') {
        await deps.nodeQueues.addRun(nodeId, toRunJob(inv, fireId));
      } else if (r.outcome === 'Waiting') {
        // The older fire's job may be lost (a replica died between its record and its job):
        // enqueue it again; its fixed id makes this a no-op while it still waits.
        await deps.nodeQueues.addRun(nodeId, toRunJob(inv, r.olderFire));
        deps.log.info({ invokeId: inv.invokeId, nodeId, fireId }, 'fire skipped: run pending');
      } else if (result === 'Skipped') {
        deps.log.info({ invokeId: inv.invokeId, nodeId, fireId }, 'fire skipped: node busy');
      } else if (FIRE_DONE.has(result)) {
        done++;
      }
    });
    return { allEnded: done === nodeIds.length, fired };
  }

  /**
   * Once no node of an invocation may fire again (its record is no longer timed, or has
   * expired), it leaves the timed set and expires. Answers whether it ended. Only for an
   * invocation whose records were all created (dispatched): before that a record that is not
   * there yet would read as ended.
   */
  private async endIfOver(inv: Invocation): Promise<boolean> {
    const { deps } = this;
    const runs = await deps.runs.read(inv.invokeId, inv.nodeIds, false);
    const over = inv.nodeIds.every((id) => runs.get(id)?.timed !== true);
    if (over) await deps.invocations.markEnded(inv.invokeId);
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
