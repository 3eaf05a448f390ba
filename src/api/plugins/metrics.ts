import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { InvocationKind, RepeatMode } from '../../domain/invocation.js';
import { isOnline } from '../../domain/node.js';
import {
  AGGREGATE_STATUSES,
  FINAL_NODE_STATUSES,
  aggregateOf,
  type AggregateStatus,
} from '../../domain/status.js';
import type { SchedulerMetrics } from '../../scheduler/deps.js';
import type { InvocationStore } from '../../store/invocation-store.js';
import type { NodeStore } from '../../store/node-store.js';
import type { NodeQueues, SchedulerQueue } from '../../store/queues.js';
import type { RunStore } from '../../store/run-store.js';

/** What a scrape reads from Redis: the fleet, its run counters, its queues, recent invocations. */
export interface FleetSource {
  nodes: NodeStore;
  nodeQueues: NodeQueues;
  schedulerQueue: SchedulerQueue;
  invocations: InvocationStore;
  runs: RunStore;
}

/** The recent invocations shown by status: those created in the last hour (Redis time). */
export const RECENT_WINDOW_MS = 3_600_000;
/** Bounds of one read of recent invocations (newest first), so a scrape stays cheap. */
export const RECENT_MAX_INVOCATIONS = 2_000;
export const RECENT_MAX_RECORDS = 20_000;
/** Invocations whose node lists are read per round trip. */
const RECENT_BATCH = 100;

/** Fleet-wide series are read from Redis: every replica reports the same value. */
const FLEET_WIDE = 'fleet-wide, read from Redis: the same on every replica, aggregate with max';
/** Per-process series count what this process did: every replica reports its own. */
const PER_PROCESS = 'this process only: sum over replicas';

/** Nodes whose queue depths are read concurrently (each read is one pipelined script call). */
const DEPTH_BATCH = 200;

/** What one scrape reads from Redis. */
interface FleetSnapshot {
  registered: number;
  online: number;
  runs: Map<string, number>;
  schedulerJobs: Record<string, number>;
  runJobs: { waiting: number; delayed: number; active: number };
  maxNodeJobs: number;
  deadlines: number;
}

async function readFleet(src: FleetSource): Promise<FleetSnapshot> {
  const ids = await src.nodes.list(undefined, Number.MAX_SAFE_INTEGER);
  const [now, infos, runs, schedulerJobs, deadlines] = await Promise.all([
    src.nodes.nowMs(),
    src.nodes.getMany(ids),
    src.nodes.runTotals(ids),
    src.schedulerQueue.counts(),
    src.schedulerQueue.deadlines.count(),
  ]);
  const runJobs = { waiting: 0, delayed: 0, active: 0 };
  let maxNodeJobs = 0;
  for (let i = 0; i < ids.length; i += DEPTH_BATCH) {
    const depths = await Promise.all(
      ids.slice(i, i + DEPTH_BATCH).map((id) => src.nodeQueues.depth(id)),
    );
    for (const d of depths) {
      runJobs.waiting += d.waiting;
      runJobs.delayed += d.delayed;
      runJobs.active += d.active;
      maxNodeJobs = Math.max(maxNodeJobs, d.waiting + d.delayed + d.active);
    }
  }
  return {
    registered: infos.filter((info) => info !== undefined).length,
    online: infos.filter((info) => info !== undefined && isOnline(info, now)).length,
    runs,
    schedulerJobs,
    runJobs,
    maxNodeJobs,
    deadlines,
  };
}

/** Recent command invocations by aggregate status, and whether a bound cut the read short. */
interface RecentInvocations {
  byStatus: Map<AggregateStatus, number>;
  truncated: boolean;
}

/**
 * The command invocations created within RECENT_WINDOW_MS, newest first, each aggregated over
 * its nodes' run records as DescribeInvocations does; at most RECENT_MAX_INVOCATIONS
 * invocations and RECENT_MAX_RECORDS node records (an invocation is taken whole or not at all).
 */
async function readRecent(src: FleetSource): Promise<RecentInvocations> {
  const now = await src.nodes.nowMs();
  const ids = await src.invocations.newestSince(now - RECENT_WINDOW_MS, RECENT_MAX_INVOCATIONS + 1);
  let truncated = ids.length > RECENT_MAX_INVOCATIONS;
  const taken: { invokeId: string; nodeIds: string[] }[] = [];
  let records = 0;
  read: for (let i = 0; i < Math.min(ids.length, RECENT_MAX_INVOCATIONS); i += RECENT_BATCH) {
    const batch = ids.slice(i, Math.min(i + RECENT_BATCH, RECENT_MAX_INVOCATIONS));
    const nodeLists = await src.invocations.nodeIdsOf(batch);
    for (const [j, nodeIds] of nodeLists.entries()) {
      const invokeId = batch[j];
      // Expired since it was listed: no longer an invocation to show.
      if (nodeIds === undefined || invokeId === undefined) continue;
      if (records + nodeIds.length > RECENT_MAX_RECORDS) {
        truncated = true;
        break read;
      }
      records += nodeIds.length;
      taken.push({ invokeId, nodeIds });
    }
  }
  const statuses = await src.runs.statuses(
    taken.flatMap(({ invokeId, nodeIds }) => nodeIds.map((nodeId) => ({ nodeId, invokeId }))),
  );
  const byStatus = new Map<AggregateStatus, number>();
  let at = 0;
  for (const { nodeIds } of taken) {
    const agg = aggregateOf(statuses.slice(at, at + nodeIds.length));
    at += nodeIds.length;
    byStatus.set(agg, (byStatus.get(agg) ?? 0) + 1);
  }
  return { byStatus, truncated };
}

/** Rejects with `message` when `work` takes longer than `ms`. */
async function within<T>(work: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Series this process counts in memory: every replica reports its own. */
function processSeries(registers: Registry[]) {
  return {
    invocationsCreated: new Counter({
      name: 'fleetcmd_invocations_created_total',
      help: `Invocations created (RunCommand, InvokeCommand: kind command; SendFile: kind file), by kind and RepeatMode; ${PER_PROCESS}`,
      labelNames: ['kind', 'repeat_mode'],
      registers,
    }),
    httpRequests: new Counter({
      name: 'fleetcmd_http_requests_total',
      help: `HTTP requests answered, by action (or path) and status code; ${PER_PROCESS}`,
      labelNames: ['action', 'code'],
      registers,
    }),
    httpDuration: new Histogram({
      name: 'fleetcmd_http_request_duration_seconds',
      help: `Time to answer an HTTP request, by action (or path); ${PER_PROCESS}`,
      labelNames: ['action'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    }),
    registrations: new Counter({
      name: 'fleetcmd_node_registrations_total',
      help: `RegisterNode answers, by outcome: Registered, or the error code of the refusal; ${PER_PROCESS}`,
      labelNames: ['outcome'],
      registers,
    }),
    dispatchLatency: new Histogram({
      name: 'fleetcmd_dispatch_latency_seconds',
      help: `Seconds from a one-off invocation's creation to its per-node run jobs being queued, once per invocation; ${PER_PROCESS}`,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    fireLag: new Histogram({
      name: 'fleetcmd_fire_lag_seconds',
      help: `Seconds from a schedule fire job's own due time to its per-node run jobs being queued, once per fire that queued one; a late job that fires a later slot instead still counts from its own slot, so a starved or stopped scheduler shows; ${PER_PROCESS}`,
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    }),
  };
}

/** Series set from Redis at scrape time: the same on every replica. */
function fleetSeries(registers: Registry[]) {
  return {
    runs: new Counter({
      name: 'fleetcmd_runs_total',
      help: `Node runs that ended, by final status, over every registered node; ${FLEET_WIDE}`,
      labelNames: ['status'],
      registers,
    }),
    recentInvocations: new Gauge({
      name: 'fleetcmd_recent_invocations',
      help: `Command invocations created in the last hour, by aggregate InvocationStatus as DescribeInvocations shows it; newest first, at most ${RECENT_MAX_INVOCATIONS} invocations and ${RECENT_MAX_RECORDS} node records are read (see fleetcmd_recent_invocations_truncated); ${FLEET_WIDE}`,
      labelNames: ['status'],
      registers,
    }),
    recentTruncated: new Gauge({
      name: 'fleetcmd_recent_invocations_truncated',
      help: `1 when fleetcmd_recent_invocations left out older invocations of the last hour (a read bound was reached), else 0; ${FLEET_WIDE}`,
      registers,
    }),
    agentsRegistered: new Gauge({
      name: 'fleetcmd_agents_registered',
      help: `Nodes whose agent has registered; ${FLEET_WIDE}`,
      registers,
    }),
    agentsOnline: new Gauge({
      name: 'fleetcmd_agents_online',
      help: `Registered nodes whose agent is online (DescribeNodes Online); ${FLEET_WIDE}`,
      registers,
    }),
    schedulerJobs: new Gauge({
      name: 'fleetcmd_scheduler_queue_jobs',
      help: `Jobs in the scheduler's queue, by BullMQ state; ${FLEET_WIDE}`,
      labelNames: ['state'],
      registers,
    }),
    runJobs: new Gauge({
      name: 'fleetcmd_run_queue_jobs',
      help: `Run jobs in all nodes’ run queues, by state (waiting, delayed, active); ${FLEET_WIDE}`,
      labelNames: ['state'],
      registers,
    }),
    deadlines: new Gauge({
      name: 'fleetcmd_delivery_deadlines',
      help: `Delivery deadlines not yet checked (one per one-off invocation, fire or rollout release still within FLEETCMD_DELIVERY_TIMEOUT_SECONDS); ${FLEET_WIDE}`,
      registers,
    }),
    maxNodeJobs: new Gauge({
      name: 'fleetcmd_run_queue_max_node_jobs',
      help: `Waiting, delayed and active run jobs of the node whose queue holds the most; ${FLEET_WIDE}`,
      registers,
    }),
  };
}

/**
 * The metrics of one server process, on a registry of its own (several servers in one process,
 * as in the tests, do not collide). Counters and histograms observed in this process
 * (invocations created, HTTP requests, scheduler latencies) live in memory, so each replica
 * reports its own and Prometheus sums them. Fleet-wide values (runs by final status, recent
 * invocations, agents, queue depths) are read from Redis at scrape time, so every replica
 * reports the same ones and Prometheus must not sum them.
 */
export class Metrics implements SchedulerMetrics {
  readonly registry = new Registry();
  private readonly own: ReturnType<typeof processSeries>;
  private readonly fleet: ReturnType<typeof fleetSeries>;
  /** The scrape under way: concurrent scrapes share it (the fleet values are set, then read). */
  private inflight: Promise<string> | undefined;
  /** The last read of recent invocations and when it began (this process's clock, ms). */
  private recent: { atMs: number; read: Promise<RecentInvocations> } | undefined;

  constructor(
    private readonly opts: {
      /** How long one read of recent invocations serves the scrapes that follow. @default 5000 */
      recentCacheMs?: number;
    } = {},
  ) {
    collectDefaultMetrics({ register: this.registry });
    this.own = processSeries([this.registry]);
    this.fleet = fleetSeries([this.registry]);
  }

  invocationCreated(kind: InvocationKind, repeatMode: RepeatMode): void {
    this.own.invocationsCreated.inc({ kind, repeat_mode: repeatMode });
  }

  httpRequest(action: string, code: number, seconds: number): void {
    this.own.httpRequests.inc({ action, code: String(code) });
    this.own.httpDuration.observe({ action }, seconds);
  }

  registration(outcome: string): void {
    this.own.registrations.inc({ outcome });
  }

  observeDispatchSeconds(seconds: number): void {
    this.own.dispatchLatency.observe(Math.max(0, seconds));
  }

  observeFireLagSeconds(seconds: number): void {
    this.own.fireLag.observe(Math.max(0, seconds));
  }

  /**
   * The exposition text, with the fleet's values read from Redis now; rejects when Redis does
   * not answer within `timeoutMs`.
   */
  async render(src: FleetSource, timeoutMs: number): Promise<string> {
    this.inflight ??= this.scrape(src, timeoutMs).finally(() => (this.inflight = undefined));
    return this.inflight;
  }

  /** Recent invocations, read again once the last read is `recentCacheMs` old (or failed). */
  private recentInvocationsOf(src: FleetSource): Promise<RecentInvocations> {
    const now = Date.now();
    if (this.recent === undefined || now - this.recent.atMs >= (this.opts.recentCacheMs ?? 5_000)) {
      const read = readRecent(src);
      this.recent = { atMs: now, read };
      read.catch(() => {
        if (this.recent?.read === read) this.recent = undefined;
      });
    }
    return this.recent.read;
  }

  private async scrape(src: FleetSource, timeoutMs: number): Promise<string> {
    const [snap, recent] = await within(
      Promise.all([readFleet(src), this.recentInvocationsOf(src)]),
      timeoutMs,
      `Redis did not answer within ${timeoutMs} ms`,
    );
    this.fleet.agentsRegistered.set(snap.registered);
    this.fleet.agentsOnline.set(snap.online);
    this.fleet.runs.reset();
    // Every final status is shown, 0 until a run ends with it, and nothing else: an agent
    // writes its node's counters, so another field there must not become a label.
    for (const status of FINAL_NODE_STATUSES) {
      this.fleet.runs.inc({ status }, snap.runs.get(status) ?? 0);
    }
    for (const status of AGGREGATE_STATUSES) {
      this.fleet.recentInvocations.set({ status }, recent.byStatus.get(status) ?? 0);
    }
    this.fleet.recentTruncated.set(recent.truncated ? 1 : 0);
    this.fleet.schedulerJobs.reset();
    for (const [state, n] of Object.entries(snap.schedulerJobs)) {
      this.fleet.schedulerJobs.set({ state }, n);
    }
    for (const [state, n] of Object.entries(snap.runJobs)) this.fleet.runJobs.set({ state }, n);
    this.fleet.maxNodeJobs.set(snap.maxNodeJobs);
    this.fleet.deadlines.set(snap.deadlines);
    return this.registry.metrics();
  }
}
