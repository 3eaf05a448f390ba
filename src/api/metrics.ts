import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { RepeatMode } from '../domain/invocation.js';
import { isOnline } from '../domain/node.js';
import { FINAL_NODE_STATUSES } from '../domain/status.js';
import type { SchedulerMetrics } from '../scheduler/scheduler.js';
import type { NodeStore } from '../store/node-store.js';
import type { NodeQueues, SchedulerQueue } from '../store/queues.js';

/** What a scrape reads from Redis: the fleet, its run counters and its queues. */
export interface FleetSource {
  nodes: NodeStore;
  nodeQueues: NodeQueues;
  schedulerQueue: SchedulerQueue;
}

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
}

async function readFleet(src: FleetSource): Promise<FleetSnapshot> {
  const ids = await src.nodes.list(undefined, Number.MAX_SAFE_INTEGER);
  const [now, infos, runs, schedulerJobs] = await Promise.all([
    src.nodes.nowMs(),
    src.nodes.getMany(ids),
    src.nodes.runTotals(ids),
    src.schedulerQueue.counts(),
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
  };
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

/**
 * The metrics of one server process, on a registry of its own (several servers in one process,
 * as in the tests, do not collide). Counters and histograms observed in this process
 * (invocations created, HTTP requests, scheduler latencies) live in memory, so each replica
 * reports its own and Prometheus sums them. Fleet-wide values (runs by final status, agents,
 * queue depths) are read from Redis at scrape time, so every replica reports the same ones.
 */
export class Metrics implements SchedulerMetrics {
  readonly registry = new Registry();
  private readonly invocationsCreated: Counter<'repeat_mode'>;
  private readonly httpRequests: Counter<'action' | 'code'>;
  private readonly httpDuration: Histogram<'action'>;
  private readonly dispatchLatency: Histogram;
  private readonly fireLag: Histogram;
  private readonly runs: Counter<'status'>;
  private readonly agentsRegistered: Gauge;
  private readonly agentsOnline: Gauge;
  private readonly schedulerJobs: Gauge<'state'>;
  private readonly runJobs: Gauge<'state'>;
  private readonly maxNodeJobs: Gauge;
  /** The scrape under way: concurrent scrapes share it (the fleet values are set, then read). */
  private inflight: Promise<string> | undefined;

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.invocationsCreated = new Counter({
      name: 'fleetcmd_invocations_created_total',
      help: 'Invocations this process created (RunCommand accepted), by RepeatMode',
      labelNames: ['repeat_mode'],
      registers,
    });
    this.httpRequests = new Counter({
      name: 'fleetcmd_http_requests_total',
      help: 'HTTP requests answered, by action (or path) and status code',
      labelNames: ['action', 'code'],
      registers,
    });
    this.httpDuration = new Histogram({
      name: 'fleetcmd_http_request_duration_seconds',
      help: 'Time to answer an HTTP request, by action (or path)',
      labelNames: ['action'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.dispatchLatency = new Histogram({
      name: 'fleetcmd_dispatch_latency_seconds',
      help: "Seconds from a one-off invocation's creation to its per-node run jobs being queued",
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.fireLag = new Histogram({
      name: 'fleetcmd_fire_lag_seconds',
      help: "Seconds from a scheduled fire's due time to its per-node run jobs being queued",
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.runs = new Counter({
      name: 'fleetcmd_runs_total',
      help: 'Node runs that ended, by final status, over every registered node (read from Redis)',
      labelNames: ['status'],
      registers,
    });
    this.agentsRegistered = new Gauge({
      name: 'fleetcmd_agents_registered',
      help: 'Nodes whose agent has registered',
      registers,
    });
    this.agentsOnline = new Gauge({
      name: 'fleetcmd_agents_online',
      help: 'Registered nodes whose agent is online (DescribeNodes Online)',
      registers,
    });
    this.schedulerJobs = new Gauge({
      name: 'fleetcmd_scheduler_queue_jobs',
      help: "Jobs in the scheduler's queue, by BullMQ state",
      labelNames: ['state'],
      registers,
    });
    this.runJobs = new Gauge({
      name: 'fleetcmd_run_queue_jobs',
      help: 'Run jobs in all nodes’ run queues, by state (waiting, delayed, active)',
      labelNames: ['state'],
      registers,
    });
    this.maxNodeJobs = new Gauge({
      name: 'fleetcmd_run_queue_max_node_jobs',
      help: 'Waiting, delayed and active run jobs of the node whose queue holds the most',
      registers,
    });
  }

  invocationCreated(repeatMode: RepeatMode): void {
    this.invocationsCreated.inc({ repeat_mode: repeatMode });
  }

  httpRequest(action: string, code: number, seconds: number): void {
    this.httpRequests.inc({ action, code: String(code) });
    this.httpDuration.observe({ action }, seconds);
  }

  observeDispatchSeconds(seconds: number): void {
    this.dispatchLatency.observe(Math.max(0, seconds));
  }

  observeFireLagSeconds(seconds: number): void {
    this.fireLag.observe(Math.max(0, seconds));
  }

  /**
   * The exposition text, with the fleet's values read from Redis now; rejects when Redis does
   * not answer within `timeoutMs`.
   */
  async render(src: FleetSource, timeoutMs: number): Promise<string> {
    this.inflight ??= this.scrape(src, timeoutMs).finally(() => (this.inflight = undefined));
    return this.inflight;
  }

  private async scrape(src: FleetSource, timeoutMs: number): Promise<string> {
    const snap = await within(
      readFleet(src),
      timeoutMs,
      `Redis did not answer within ${timeoutMs} ms`,
    );
    this.agentsRegistered.set(snap.registered);
    this.agentsOnline.set(snap.online);
    this.runs.reset();
    // Every final status is shown, 0 until a run ends with it.
    for (const status of new Set([...FINAL_NODE_STATUSES, ...snap.runs.keys()])) {
      this.runs.inc({ status }, snap.runs.get(status) ?? 0);
    }
    this.schedulerJobs.reset();
    for (const [state, n] of Object.entries(snap.schedulerJobs)) {
      this.schedulerJobs.set({ state }, n);
    }
    for (const [state, n] of Object.entries(snap.runJobs)) this.runJobs.set({ state }, n);
    this.maxNodeJobs.set(snap.maxNodeJobs);
    return this.registry.metrics();
  }
}
