import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { hostname, type as osType, uptime } from 'node:os';
import type { Job, Worker } from 'bullmq';
import type { RedisClient } from '../../src/store/redis.js';
import { reportedTagsText, type Tag } from '../../src/domain/tags.js';
import { RUN_ERRORS, type RunErrorCode } from '../../src/domain/run-errors.js';
import {
  contentForNode,
  runJobSchema,
  type FileJob,
  type RunJob,
} from '../../src/domain/run-job.js';
import type { Logger } from '../../src/shared/log.js';
import type { AgentStore, RunOutcome } from '../../src/store/agent-store.js';
import type { Keys } from '../../src/store/keys.js';
import { makeNodeWorker, NodeQueues } from '../../src/store/queues.js';
import { writeFileAtomically } from './file-writer.js';
import { VERSION } from '../../src/shared/version.js';
import { settleWithin } from '../../src/shared/settle.js';
import { withSpan } from '../../src/shared/telemetry.js';
import { errorInfoFor } from './exec/outcome.js';
import {
  prepareCommand,
  startCommand,
  type CommandHandle,
  type ExecRequest,
  type PreparedCommand,
} from './exec/start-command.js';
import { sharedSpawner } from './spawner.js';
import { fireBootInvocations } from './boot-invocations.js';
import { clockOffsetMs, isClockSkewed } from '../../src/domain/clock.js';
import { interruptPreviousLife } from './previous-life.js';
import { SlotReads } from './slot-reads.js';

export interface AgentDeps {
  nodeId: string;
  store: AgentStore;
  keys: Keys;
  /** Connection for BullMQ and the store (worker profile: waits while Redis is away). */
  connection: RedisClient;
  /** Connection for the control channel. */
  subscriber: RedisClient;
  log: Logger;
  heartbeatSeconds: number;
  concurrency: number;
  graceSeconds: number;
  /** BullMQ lock duration for claimed jobs. @default 30 */
  lockSeconds?: number;
  /** The tags the agent reports at registration (FLEETCMD_NODE_TAGS). @default none */
  tags?: readonly Tag[];
  /**
   * The agent's own clock (ms), which it measures against Redis's at each heartbeat.
   * @default Date.now
   */
  clock?: () => number;
  /** Boot id override (tests simulate reboots); default: the kernel's. */
  bootId?: string;
  /** Starts a command; replaceable so the loop's state machine can be tested alone. */
  execute?: (req: ExecRequest) => Promise<CommandHandle>;
  /** How often a running command's output is saved and its status re-read. @default 1000 */
  progressIntervalMs?: number;
  /**
   * Where runs' script directories are made: the real path chooseScriptRoot gave
   * (FLEETCMD_SCRIPT_DIR). @default defaultScriptRoot()
   */
  scriptRoot?: string;
}

/**
 * A fire's slot further ahead than this (on the corrected clock) is not waited for: the
 * scheduler sends fires FIRE_LEAD_MS (1.5 s) ahead, so such a job is not one of its.
 */
const MAX_AHEAD_MS = 60_000;

/** How often a final result is retried before the error is logged and given up (~1 min). */
const REPORT_ATTEMPTS = 15;

/**
 * Heartbeats between two announcements on the node's channel (see AgentStore.announce) once the
 * agent's first minute is over: about once a minute. A server learns of a node from its first
 * announcement it hears and keeps it in the registry; the repeats are only for servers that were
 * down all through the agent's first minute, and one PUBLISH a minute is a sixth of one per
 * heartbeat on a fleet of 10,000 nodes.
 */
export function announceEveryBeats(heartbeatSeconds: number): number {
  return Math.max(1, Math.round(60 / heartbeatSeconds));
}

export type AgentState = 'STARTING' | 'RUNNING' | 'DRAINING' | 'STOPPED';

async function kernelBootId(): Promise<string> {
  try {
    return (await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim();
  } catch {
    // No /proc (not Linux): one boot per host start is the best we can tell.
    return `uptime-${Math.round(Date.now() / 1000 - uptime())}`;
  }
}

/**
 * The node agent. It registers (with its boot id), heartbeats, consumes only its own node's
 * queue, and for each job: claims the run (Pending -> Running, atomically), runs it, saves the
 * output at least every second, and reports the outcome. A job whose claim fails (stopped,
 * aborted, or already run) is dropped without running anything. A fire delivered ahead of its
 * slot is claimed before the slot and started at the slot (runArmed).
 */
export class Agent {
  readonly instanceId = randomUUID();
  state: AgentState = 'STARTING';
  /** The boot id recorded before this start ('' on a node's first start). */
  previousBootId = '';
  /** This boot's id. */
  bootId = '';
  private worker: Worker | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private readonly running = new Map<string, CommandHandle>();
  /** Ids of the jobs the processor holds right now. */
  private readonly taken = new Set<string>();
  /** When the queue connection last dropped (ms), 0 while it has not. */
  private droppedAtMs = 0;
  /** Redis's clock minus this agent's (ms), measured at the last heartbeat (see beat). */
  private offsetMs: number | undefined;
  /**
   * How far the offset may be off (ms): half the measuring round trip, plus rounding (see
   * clockOffsetMs). Waiting this much past a slot on the corrected clock is past it on Redis's.
   */
  private offsetErrorMs = 0;
  private readonly clock: () => number;
  /** Removes this agent's listener for a spawner that goes. */
  private stopWatchingSpawner: () => void = () => undefined;
  /** The reads at their slot of the runs armed for it, one round trip per slot (runArmed). */
  private readonly slotReads: SlotReads;

  constructor(private readonly deps: AgentDeps) {
    this.clock = deps.clock ?? Date.now;
    this.slotReads = new SlotReads({
      waitMs: (slotMs) => this.msUntilPast(slotMs),
      read: (runs) => deps.store.armedStatuses(runs),
    });
  }

  /**
   * Redis's clock minus this agent's (ms; positive: the agent's is behind), as measured at the
   * last heartbeat; undefined before the first (made as the agent starts).
   */
  get clockOffsetMs(): number | undefined {
    return this.offsetMs;
  }

  /** Now on Redis's clock, as this agent reckons it: its own clock corrected by the offset. */
  redisNowMs(): number {
    return this.clock() + (this.offsetMs ?? 0);
  }

  /**
   * One heartbeat: it stores the offset measured at the previous one (DescribeNodes shows
   * it), and Redis's clock in its reply, timed on this agent's clock, is the next measure
   * (src/domain/clock.ts). No command beyond the heartbeat's own script.
   */
  private async beat(): Promise<void> {
    const sentMs = this.clock();
    const redisMs = await this.deps.store.heartbeat(this.offsetMs);
    const receivedMs = this.clock();
    const offsetMs = clockOffsetMs(sentMs, redisMs, receivedMs);
    const skewed = isClockSkewed(offsetMs);
    if (skewed !== isClockSkewed(this.offsetMs) && (skewed || this.offsetMs !== undefined)) {
      const log = skewed ? this.deps.log.warn : this.deps.log.info;
      log.call(
        this.deps.log,
        { clockOffsetMs: offsetMs },
        skewed
          ? "this host's clock is over 1 s off Redis's: runs are timed by the corrected clock"
          : "this host's clock is back within 1 s of Redis's",
      );
    }
    this.offsetMs = offsetMs;
    this.offsetErrorMs = Math.ceil((receivedMs - sentMs) / 2) + 1;
  }

  async start(): Promise<void> {
    const { deps } = this;
    const bootId = deps.bootId ?? (await kernelBootId());
    this.bootId = bootId;
    this.previousBootId = await deps.store.register(uptime() * 1000, bootId, {
      hostname: hostname(),
      osType: osType(),
      timeZone: Intl.DateTimeFormat().resolvedOptions().timeZone,
      agentVersion: VERSION,
      heartbeatSeconds: deps.heartbeatSeconds,
      agentInstance: this.instanceId,
      pid: process.pid,
      // Always written, so tags dropped from the agent's settings are dropped from the node.
      tags: reportedTagsText(deps.tags ?? []),
    });
    // The first measure of this agent's clock, before it takes any work.
    await this.beat();
    if (!deps.execute) {
      this.stopWatchingSpawner = sharedSpawner().onGone((why, pid) =>
        deps.log.warn(
          { spawnerPid: pid, why },
          'command spawner gone; the next run starts a new one',
        ),
      );
      try {
        sharedSpawner().start();
      } catch (err) {
        // Each run tries again, and one that cannot start is reported Error.
        deps.log.error({ err: String(err) }, 'command spawner not started');
      }
    }
    await interruptPreviousLife(deps, this.instanceId, bootId);
    // A boot's triggers stay pending until all are fired, so a crash here only delays them to
    // the next start of the agent (same boot), and each fire is taken once.
    if ((await deps.store.bootPending()) === bootId) await fireBootInvocations(deps, bootId);

    await deps.subscriber.subscribe(deps.store.controlChannel());
    deps.subscriber.on('message', (channel: string, message: string) => {
      if (channel !== deps.store.controlChannel()) return;
      const [verb, invokeId] = message.split(' ');
      if (verb === 'stop' && invokeId) this.running.get(invokeId)?.stop('stop');
    });

    this.worker = makeNodeWorker(
      deps.connection,
      deps.keys,
      deps.nodeId,
      (job) => this.process(job),
      { concurrency: deps.concurrency, lockDurationMs: (deps.lockSeconds ?? 30) * 1000 },
    );
    this.worker.on('error', (err) => deps.log.warn({ err: err.message }, 'queue worker error'));
    deps.connection.on('close', () => {
      if (this.droppedAtMs === 0) this.droppedAtMs = Date.now();
    });
    deps.connection.on('ready', () => {
      if (this.droppedAtMs === 0 || this.state !== 'RUNNING') return;
      const droppedAtMs = this.droppedAtMs;
      this.droppedAtMs = 0;
      this.recoverLostFetches(droppedAtMs).catch((err: unknown) =>
        deps.log.warn({ err: String(err) }, 'jobs fetched before a reconnect not checked'),
      );
    });
    void this.worker
      .run()
      .catch((err: unknown) => deps.log.error({ err: String(err) }, 'queue worker stopped'));
    await this.worker.waitUntilReady();

    // Tells the servers to take this registration's tags (heartbeats announce without it).
    await deps.store.announce(true);
    const announceEvery = announceEveryBeats(deps.heartbeatSeconds);
    let beats = 0;
    this.heartbeat = setInterval(() => {
      beats++;
      // Every heartbeat for the first minute (a server starting beside the agent may not have
      // been listening yet), then about once a minute.
      const announce = beats <= announceEvery || beats % announceEvery === 0;
      this.beat()
        .then(() => (announce ? deps.store.announce() : undefined))
        .catch((err: unknown) => deps.log.warn({ err: String(err) }, 'heartbeat failed'));
    }, deps.heartbeatSeconds * 1000);
    this.state = 'RUNNING';
    deps.log.info(
      {
        nodeId: deps.nodeId,
        bootId,
        rebooted: this.previousBootId !== '' && this.previousBootId !== bootId,
      },
      'agent started',
    );
  }

  /**
   * Redis can die after it moved a job to active for this worker but before the reply arrived:
   * BullMQ then never runs that job, and with `maxStalledCount: 0` it is failed once its lock
   * lapses, so a run that never started would end Aborted. After a reconnect, each active job
   * handed out before the drop that the processor does not hold goes through the processor
   * here. That is safe: only the claim (Pending -> Running, or the arm of a fire sent ahead)
   * starts a command, so a job whose run was claimed already, or ended, is skipped.
   */
  private async recoverLostFetches(droppedAtMs: number): Promise<void> {
    const { deps } = this;
    const queues = new NodeQueues(deps.connection, deps.keys);
    try {
      for (const job of await queues.activeRuns(deps.nodeId)) {
        if (job.id === undefined || this.taken.has(job.id)) continue;
        if ((job.processedOn ?? Infinity) > droppedAtMs) continue;
        // Most are jobs whose end BullMQ had not recorded yet: their claim refuses them.
        deps.log.info({ jobId: job.id }, 'job handed out before a reconnect: checking its claim');
        void this.process(job).catch((err: unknown) =>
          deps.log.error({ jobId: job.id, err: String(err) }, 'recovered job failed'),
        );
      }
    } finally {
      await queues.close();
    }
  }

  async process(job: Job<unknown>): Promise<void> {
    const id = job.id ?? '';
    this.taken.add(id);
    try {
      await this.processJob(job);
    } finally {
      this.taken.delete(id);
    }
  }

  private async processJob(job: Job<unknown>): Promise<void> {
    const data = this.parseRunJob(job);
    if (!data) return;
    // While tracing is on, a child of BullMQ's span of this job (bullmq-otel).
    await withSpan(
      data.file ? 'send file' : 'run',
      { 'fleetcmd.invoke_id': data.invokeId, 'fleetcmd.node_id': this.deps.nodeId },
      () => this.runJob(data),
    );
  }

  private async runJob(data: RunJob): Promise<void> {
    const claimNonce = randomUUID();
    // A fire sent ahead: its process is made while the slot is awaited, held at a gate, and let
    // go once the claim succeeds; on any other way out it is killed unrun.
    const early = data.ahead ? this.prepareEarly(data, claimNonce) : undefined;
    try {
      await this.takeJob(data, claimNonce, early);
    } finally {
      await early?.then((p) => p.discard()).catch(() => undefined);
    }
  }

  private async takeJob(
    data: RunJob,
    claimNonce: string,
    early: Promise<PreparedCommand> | undefined,
  ): Promise<void> {
    if (data.ahead?.fired && !data.file) {
      return this.runArmed(data, data.ahead.slotMs, claimNonce, early);
    }
    if (data.ahead && !(await this.untilSlot(data, data.ahead))) return;
    if (!this.takesRun(data)) return;
    if (!(await this.claimRun(data, claimNonce))) return;
    if (data.file) {
      await this.sendFile(data, data.file);
      return;
    }
    const handle = await this.startRun(data, claimNonce, early);
    if (handle) await this.finishRun(data, handle);
  }

  /**
   * A draining agent starts nothing new. The job is consumed, so the run stays Pending: a
   * one-off or scheduled run becomes Aborted at its delivery deadline, and a boot run's job is
   * enqueued again by the node's next boot.
   */
  private takesRun(data: RunJob): boolean {
    if (this.state !== 'DRAINING' && !this.running.has(data.invokeId)) return true;
    this.deps.log.info(
      { invokeId: data.invokeId },
      'run not claimed: agent draining or run already here',
    );
    return false;
  }

  /**
   * A fire delivered ahead whose record the delivery made Pending for it: the claim is made
   * before the slot, as an arm (the record stays Pending, run-claim-3.lua), so that at the slot,
   * when every node of the fire acts at once, a node sends Redis one HMGET before it starts the
   * command (a stop answered before the slot made the record Cancelled: nothing starts) and then
   * records Running with the start it measured (run-spawned-3.lua), instead of a claim script
   * queued behind every other node's. A stop that reached Redis after the read is answered by
   * run-spawned-3.lua: the command is killed (Terminated).
   */
  private async runArmed(
    data: RunJob,
    slotMs: number,
    claimNonce: string,
    early: Promise<PreparedCommand> | undefined,
  ): Promise<void> {
    if (this.slotWaitMs(data, slotMs) === undefined || !this.takesRun(data)) return;
    if (!(await this.claimRun(data, claimNonce, true))) return;
    // Read with every other run of this agent due at the slot, in one round trip once it is
    // past; a draining agent then leaves the record armed: Aborted at its delivery deadline.
    const st = await this.slotReads.statusAt(slotMs, {
      invokeId: data.invokeId,
      nonce: claimNonce,
    });
    if (!(await this.waitForSlot(data, 0))) return;
    if (st !== 'Armed') {
      this.deps.log.info({ invokeId: data.invokeId, status: st }, 'run not claimed; skipped');
      // Stopped after the slot, before this read: it never started, so Cancelled
      // (run-finish-4.lua). Else ended without this agent (Cancelled by a stop before the slot,
      // Aborted): out of the active runs, unless another claim holds the record.
      if (st === 'Stopping') await this.reportNotStarted(data.invokeId, 'Cancelled', undefined);
      else if (st !== 'Other') await this.deps.store.disarm(data.invokeId);
      return;
    }
    const handle = await this.startRun(data, claimNonce, early, slotMs);
    if (handle) await this.finishRun(data, handle);
  }

  /** The job's run, or undefined (logged) when the job is malformed. */
  private parseRunJob(job: Job<unknown>): RunJob | undefined {
    const parsed = runJobSchema.safeParse(job.data);
    if (parsed.success) return parsed.data;
    this.deps.log.error(
      { jobId: job.id, issue: parsed.error.issues[0]?.message },
      'malformed run job dropped',
    );
    return undefined;
  }

  /**
   * A schedule's fire delivered ahead of its slot: waits for the slot on this agent's clock
   * corrected by its offset to Redis's (redisNowMs); answers whether to go on to the claim,
   * which (at the slot) finds a stop answered before it. When the delivery found the previous
   * run not ended, the fire is first made on the node's record here (run-fire-3.lua): a run
   * still going then skips it (counted). A draining agent takes nothing: the record is left as
   * it is (Pending ones are aborted at their delivery deadline).
   */
  private async untilSlot(data: RunJob, ahead: NonNullable<RunJob['ahead']>): Promise<boolean> {
    const { deps } = this;
    const waitMs = this.slotWaitMs(data, ahead.slotMs);
    if (waitMs === undefined || !(await this.waitForSlot(data, waitMs))) return false;
    if (ahead.fired) return true;
    const reply = await deps.store.fireAtSlot(
      data.invokeId,
      data.fire,
      ahead.slotMs,
      ahead.final,
      ahead.passedOverMs,
    );
    switch (reply.outcome) {
      case 'Fired':
      case 'Already':
        return true;
      case 'Skipped':
      case 'Waiting':
        deps.log.info(
          { invokeId: data.invokeId, fire: data.fire },
          'fire skipped at its slot: the previous run has not ended',
        );
        return false;
      default:
        return false;
    }
  }

  /**
   * How long until a fire's slot (ms): past it on Redis's clock (what StartTime and every stored
   * time are read from), not only on this agent's reckoning of it, so a run never starts before
   * its slot. Undefined (logged) for a slot too far ahead.
   */
  private slotWaitMs(data: RunJob, slotMs: number): number | undefined {
    const waitMs = this.msUntilPast(slotMs);
    if (waitMs <= MAX_AHEAD_MS) return waitMs;
    this.deps.log.warn(
      { invokeId: data.invokeId, fire: data.fire, waitMs },
      'fire sent too far ahead: not run',
    );
    return undefined;
  }

  /** How long until `slotMs` is past on Redis's clock, however far off the offset may be (ms). */
  private msUntilPast(slotMs: number): number {
    return slotMs - this.redisNowMs() + this.offsetErrorMs;
  }

  /** Waits `waitMs`; false (logged) when the agent is draining by then. */
  private async waitForSlot(data: RunJob, waitMs: number): Promise<boolean> {
    if (waitMs > 0) await new Promise((r) => setTimeout(r, waitMs));
    if (this.state !== 'DRAINING') return true;
    this.deps.log.info(
      { invokeId: data.invokeId, fire: data.fire },
      'fire not taken: agent draining',
    );
    return false;
  }

  /**
   * Claims the run with `claimNonce` (Pending -> Running, at most once; `arm`: kept Pending, see
   * runArmed): whether it did. The nonce is also the command's FLEETCMD_RUN_TOKEN (a fire made
   * ahead carries it before its claim): stored with the claim, it finds the run's processes after
   * a crash even before its process group was recorded.
   */
  private async claimRun(data: RunJob, claimNonce: string, arm = false): Promise<boolean> {
    const claimed = await this.deps.store.claim(
      data.invokeId,
      data.fire,
      this.instanceId,
      claimNonce,
      this.bootId,
      arm,
    );
    if (claimed === 'Claimed') return true;
    this.deps.log.info({ invokeId: data.invokeId, status: claimed }, 'run not claimed; skipped');
    return false;
  }

  /** The run's request to execute, or its error code when its content cannot run here. */
  private execRequest(data: RunJob, claimNonce: string): ExecRequest | { errorCode: RunErrorCode } {
    const prepared = contentForNode(data, this.deps.nodeId);
    if ('errorCode' in prepared) return prepared;
    return {
      invokeId: data.invokeId,
      fire: data.fire,
      content: prepared.content,
      username: data.username,
      workingDir: data.workingDir,
      timeoutSeconds: data.timeoutSeconds,
      terminationMode: data.terminationMode,
      launcher: data.launcher,
      ...(this.deps.scriptRoot !== undefined ? { scriptRoot: this.deps.scriptRoot } : {}),
      runToken: claimNonce,
    };
  }

  /**
   * A fire's command made ahead of its slot (prepareCommand), or undefined where it is not: a
   * file, content that cannot run here, an agent whose executor is replaced (tests).
   */
  private prepareEarly(data: RunJob, claimNonce: string): Promise<PreparedCommand> | undefined {
    if (data.file || this.deps.execute) return undefined;
    const req = this.execRequest(data, claimNonce);
    if ('errorCode' in req) return undefined;
    return prepareCommand(req);
  }

  /**
   * Starts a claimed run's command and records its process group (and, for a run armed for
   * `slotMs`, Running with its start): its handle, or undefined when it never started (its
   * outcome then is reported already).
   */
  private async startRun(
    data: RunJob,
    claimNonce: string,
    early: Promise<PreparedCommand> | undefined,
    slotMs?: number,
  ): Promise<CommandHandle | undefined> {
    const { deps } = this;
    const req = this.execRequest(data, claimNonce);
    if ('errorCode' in req) {
      deps.log.info({ invokeId: data.invokeId, errorCode: req.errorCode }, 'run invalid');
      await this.reportNotStarted(data.invokeId, 'Invalid', req.errorCode);
      return undefined;
    }
    const execute = deps.execute ?? startCommand;
    let handle: CommandHandle;
    try {
      handle = await (early ? (await early).start() : execute(req));
    } catch (err) {
      deps.log.error({ invokeId: data.invokeId, err: String(err) }, 'could not start command');
      await this.reportNotStarted(data.invokeId, 'Error', 'ExecutionException');
      return undefined;
    }
    const startedMs = this.redisNowMs();
    this.running.set(data.invokeId, handle);
    if (handle.pid === undefined && slotMs === undefined) return handle;
    const start = slotMs !== undefined ? { startedMs, slotMs } : undefined;
    const st = await deps.store
      .spawned(data.invokeId, claimNonce, handle.pid, handle.scriptDir, start)
      .catch((err: unknown) => {
        deps.log.warn({ invokeId: data.invokeId, err: String(err) }, 'process group not recorded');
        return undefined;
      });
    // Stopped meanwhile; or an armed run whose start could not be recorded: it must not go on.
    if (st === 'Stopping' || (start && st !== 'Running')) handle.stop('stop');
    return handle;
  }

  /**
   * Saves a running command's output at every progress tick (only when it grew) and stops it
   * once its run is no longer Running. The returned function ends the ticks and waits for the
   * save under way.
   */
  private trackProgress(data: RunJob, handle: CommandHandle): () => Promise<void> {
    const { deps } = this;
    let savedBytes = -1;
    let saving: Promise<void> = Promise.resolve();
    const saveProgress = async () => {
      const total = handle.capture.totalBytes;
      const snap = total !== savedBytes ? handle.capture.snapshot() : undefined;
      const st = await deps.store.progress(data.invokeId, this.instanceId, snap);
      if (snap) savedBytes = total;
      if (st !== 'Running') handle.stop('stop');
    };
    const ticker = setInterval(() => {
      saving = saving
        .then(saveProgress)
        .catch((err: unknown) =>
          deps.log.warn({ invokeId: data.invokeId, err: String(err) }, 'progress not saved'),
        );
    }, deps.progressIntervalMs ?? 1000);
    return async () => {
      clearInterval(ticker);
      await saving;
    };
  }

  /** Waits for a started command's end, saving progress meanwhile, and reports its outcome. */
  private async finishRun(data: RunJob, handle: CommandHandle): Promise<void> {
    const stopSaving = this.trackProgress(data, handle);
    const outcome = await handle.done;
    await stopSaving();
    this.running.delete(data.invokeId);
    const snap = handle.capture.snapshot();
    const final = await this.report(data.invokeId, {
      status: outcome.status,
      exitCode: outcome.exitCode,
      errorCode: outcome.errorCode,
      errorInfo: errorInfoFor(outcome.errorCode),
      output: snap.output,
      dropped: snap.dropped,
      started: outcome.started,
    });
    this.deps.log.info(
      {
        invokeId: data.invokeId,
        status: final,
        exitCode: outcome.exitCode,
        bytes: snap.totalBytes,
        ...(outcome.detail !== undefined ? { detail: outcome.detail } : {}),
      },
      'run finished',
    );
  }

  /** A claimed SendFile run: writes the file (see file-writer.ts) and reports the outcome. */
  private async sendFile(data: RunJob, file: FileJob): Promise<void> {
    const startedMs = Date.now();
    const o = await writeFileAtomically({
      ...file,
      invokeId: data.invokeId,
      content: Buffer.from(data.content, 'base64'),
      deadlineMs: startedMs + data.timeoutSeconds * 1000,
    });
    const final = await this.report(data.invokeId, {
      status: o.status,
      exitCode: undefined,
      errorCode: o.errorCode,
      errorInfo: o.errorInfo,
      output: Buffer.alloc(0),
      dropped: 0,
      // A job the agent refused as invalid never started, as with a command.
      started: o.status !== 'Invalid',
    });
    this.deps.log.info(
      { invokeId: data.invokeId, status: final, errorCode: o.errorCode },
      'file sent',
    );
  }

  /** Ends a claimed run that never started, with no output. */
  private async reportNotStarted(
    invokeId: string,
    status: 'Error' | 'Invalid' | 'Cancelled',
    errorCode: RunErrorCode | undefined,
  ): Promise<void> {
    await this.report(invokeId, {
      status,
      exitCode: undefined,
      errorCode: errorCode ?? '',
      errorInfo: errorCode ? RUN_ERRORS[errorCode] : '',
      output: Buffer.alloc(0),
      dropped: 0,
      started: false,
    });
  }

  /**
   * Writes a run's outcome, retrying with backoff when Redis answers an error (a connection
   * loss is already waited out by the client): a result is never dropped silently.
   */
  private async report(invokeId: string, outcome: RunOutcome): Promise<string> {
    const { deps } = this;
    for (let attempt = 1; ; attempt++) {
      try {
        return await deps.store.finish(invokeId, this.instanceId, outcome);
      } catch (err) {
        if (attempt >= REPORT_ATTEMPTS) throw err;
        deps.log.warn({ invokeId, attempt, err: String(err) }, 'result not saved yet; retrying');
        await new Promise((r) => setTimeout(r, Math.min(200 * 2 ** attempt, 5_000)));
      }
    }
  }

  /**
   * Drains: stops taking jobs, gives running commands `graceSeconds` to finish, then kills
   * them (reported Error, interrupted), marks the node offline and closes Redis last. A node
   * deregistered gives them no grace (0): nothing of theirs can be reported any more.
   */
  async stop(graceSeconds = this.deps.graceSeconds): Promise<void> {
    const { deps } = this;
    if (this.state === 'STOPPED' || this.state === 'DRAINING') return;
    this.state = 'DRAINING';
    deps.log.info(
      { nodeId: deps.nodeId, running: this.running.size, graceSeconds },
      'agent draining',
    );
    clearInterval(this.heartbeat);
    const closing = this.worker?.close() ?? Promise.resolve();
    let graceTimer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((r) => {
      graceTimer = setTimeout(r, graceSeconds * 1000);
    });
    await Promise.race([closing, grace]);
    for (const handle of this.running.values()) handle.stop('shutdown');
    await settleWithin(closing, 5_000);
    // A command whose start was under way when the grace ended is running now: it goes too.
    for (const handle of this.running.values()) handle.stop('shutdown');
    clearTimeout(graceTimer);
    // Bounded: with Redis away these would wait for it forever.
    await settleWithin(deps.store.markStopped(), 2_000);
    await settleWithin(deps.subscriber.unsubscribe(), 1_000);
    this.stopWatchingSpawner();
    this.state = 'STOPPED';
    deps.log.info({ nodeId: deps.nodeId }, 'agent stopped');
  }
}
