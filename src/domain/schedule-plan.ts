import {
  cronWindow,
  latestFire,
  nextFire,
  normalizeZone,
  yearAllowed,
  type Frequency,
} from './frequency.js';
import type { RepeatMode, RunRecord } from './invocation.js';
import { isOnline, lastSeenMs, type NodeInfo } from './node.js';
import { RUN_ERRORS } from './run-errors.js';
import type { FireReply } from './run-replies.js';

/**
 * The scheduler's decisions, apart from the Redis and BullMQ calls around them: every function
 * here takes the time (`nowMs`) and the state it decides on as arguments and does no I/O, so
 * the scheduler worker reads first, asks here, and then writes.
 */

/**
 * How long before its slot a schedule's fire is delivered to its nodes' agents (at most): each
 * agent then starts the run at the slot on its own clock, corrected by its offset to Redis's
 * (see workers/agent/agent.ts). Long enough for the fire job's wait, its fan-out and the
 * agents' pick-up on a busy host. 1.5 s.
 */
export const FIRE_LEAD_MS = 1_500;

/**
 * How far ahead of `slotMs` its fire is delivered: FIRE_LEAD_MS, or half the gap to the slot
 * before (`prevSlotMs`, undefined: none) when that is less, so that a fire is never delivered
 * before the slot ahead of it has come (an every-second schedule's fires go 0.5 s ahead). No
 * other slot then lies between a fire job's due time and its own slot (see aheadSlot).
 */
export function fireLeadMs(slotMs: number, prevSlotMs: number | undefined): number {
  if (prevSlotMs === undefined) return FIRE_LEAD_MS;
  return Math.min(FIRE_LEAD_MS, Math.floor((slotMs - prevSlotMs) / 2));
}

/** The slot of a fire job sent ahead, due at `jobDueMs`: the schedule's first slot after it. */
export function aheadSlot(c: ScheduleClock, jobDueMs: number): number | undefined {
  return nextFire(c.freq, jobDueMs, slotOpts(c));
}

/** Where one schedule's slots fall. */
export interface ScheduleClock {
  freq: Frequency;
  /** The invocation's creation: rate() slots are createdMs + k·everyMs, k ≥ 1. */
  createdMs: number;
  /** The zone the schedule runs in; undefined for none (rate, at) or the Frequency's own. */
  zone: string | undefined;
}

function slotOpts(c: ScheduleClock): { createdMs: number; zone?: string } {
  return { createdMs: c.createdMs, ...(c.zone ? { zone: c.zone } : {}) };
}

/** The zone a schedule group keys on, from a group's recorded zone ('' = none). */
export function groupZone(zone: string): string | undefined {
  return zone === '' ? undefined : zone;
}

/** A fire job as BullMQ handed it out. */
export interface FireTiming extends ScheduleClock {
  /** The slot the job was made for. */
  dueMs: number;
  nowMs: number;
  /** The job scheduler that made the job (falsy for an at()'s one-off job). */
  scheduleKey: string | undefined;
}

/** What a fire job does. */
export interface FirePlan {
  /** The slot fired: the job's own, or the later one it catches up on. */
  fireMs: number;
  /**
   * The job's own slot is passed over for a later one: each node that has not seen it counts
   * it as skipped. Never for a slot in a year the cron excludes, which is no slot at all.
   */
  passedOver: boolean;
  /** No slot follows the fired one: the schedule ends with it. */
  final: boolean;
  /** The slot falls in an allowed year (a cron's year field); else nothing runs. */
  fansOut: boolean;
}

/**
 * A fire job's first step: its plan when it fires its own slot, or `readNext` when it was taken
 * after the next slot was due: then where BullMQ put the schedule's next job decides (read it,
 * then call planCatchUp).
 */
export type FireStep =
  { kind: 'plan'; plan: FirePlan } | { kind: 'readNext'; scheduleKey: string; ownNextMs: number };

/** Whether `ms` falls in a year the schedule allows (only a cron's year field excludes any). */
function inAllowedYear(t: FireTiming, ms: number): boolean {
  return t.freq.kind !== 'cron' || yearAllowed(t.freq, ms, t.zone);
}

function firePlan(t: FireTiming, fireMs: number, ownNextMs: number | undefined): FirePlan {
  // The slot after the fired one: already known when it is the job's own.
  const after = fireMs === t.dueMs ? ownNextMs : nextFire(t.freq, fireMs, slotOpts(t));
  return {
    fireMs,
    // BullMQ knows no years: it makes jobs in an excluded year too, which pass over nothing.
    passedOver: fireMs !== t.dueMs && inAllowedYear(t, t.dueMs),
    final: t.freq.kind === 'at' || after === undefined,
    fansOut: inAllowedYear(t, fireMs),
  };
}

/** See FireStep. On time (the next slot still to come), an at() or a one-off job: its own slot. */
export function planFire(t: FireTiming): FireStep {
  const next = t.freq.kind === 'at' ? undefined : nextFire(t.freq, t.dueMs, slotOpts(t));
  if (next === undefined || next > t.nowMs || !t.scheduleKey) {
    return { kind: 'plan', plan: firePlan(t, t.dueMs, next) };
  }
  return { kind: 'readNext', scheduleKey: t.scheduleKey, ownNextMs: next };
}

/**
 * The slot a late fire job fires instead of its own. BullMQ makes a schedule's next job when it
 * hands out the current one, at the first slot after that moment, so the slots in between got
 * no job at all. The latest of them is the schedule's current slot, the one catch-up run of
 * SPEC §3 (missed fires are not back-filled). A slot at or after `scheduledNextMs` (BullMQ's
 * next job; undefined: none, the schedule has ended for BullMQ or is gone) is left to its own
 * job; a retried job reads the same and picks the same slot, which its nodes then find taken.
 */
export function planCatchUp(
  t: FireTiming,
  ownNextMs: number,
  scheduledNextMs: number | undefined,
): FirePlan {
  const until =
    scheduledNextMs !== undefined && scheduledNextMs > t.dueMs
      ? Math.min(scheduledNextMs - 1, t.nowMs)
      : t.nowMs;
  return firePlan(t, latestFire(t.freq, t.dueMs, until, slotOpts(t)) ?? t.dueMs, ownNextMs);
}

/** What the fan-out does on one node after its record answered a fire. */
export interface NodeFireAction {
  /** The fire whose run job to (re-)enqueue on the node; undefined: none. */
  enqueueFire: string | undefined;
  /** This call took the fire (a retried job finds it `Already` taken). */
  fired: boolean;
  /** The node may never fire again (its record ended, or is gone). */
  ended: boolean;
  /** Why the node skipped the fire, for the log; undefined: it did not. */
  skipped: 'run pending' | 'node busy' | undefined;
  /** This call counted the fire job's own, passed-over slot as skipped on the node. */
  countedPassedOver: boolean;
}

const NO_ACTION: NodeFireAction = {
  enqueueFire: undefined,
  fired: false,
  ended: false,
  skipped: undefined,
  countedPassedOver: false,
};

/**
 * Per node, from its record's answer to fire `fireId`: a taken fire (new or retried) enqueues
 * its job; a node whose older run is still Pending gets that older job enqueued again (it may
 * have been lost between record and job; its fixed id makes this a no-op while it waits); a
 * busy node only skips; an ended or missing record counts towards the schedule's end; a stale
 * fire does nothing.
 */
export function planNodeFire(reply: FireReply, fireId: string): NodeFireAction {
  const action = nodeFireAction(reply, fireId);
  return reply.countedPassedOver ? { ...action, countedPassedOver: true } : action;
}

function nodeFireAction(reply: FireReply, fireId: string): NodeFireAction {
  switch (reply.outcome) {
    case 'Fired':
      return { ...NO_ACTION, enqueueFire: fireId, fired: true };
    case 'Already':
      return { ...NO_ACTION, enqueueFire: fireId };
    case 'Waiting':
      return { ...NO_ACTION, enqueueFire: reply.olderFire, skipped: 'run pending' };
    case 'Skipped':
      return { ...NO_ACTION, skipped: 'node busy' };
    case 'Ended':
    case 'Missing':
      return { ...NO_ACTION, ended: true };
    case 'Stale':
      return NO_ACTION;
    case 'Busy':
      // Delivered ahead all the same: the agent decides at the slot (skip, or run).
      return { ...NO_ACTION, enqueueFire: fireId };
  }
}

/** What follows a fan-out. */
export interface AfterFire {
  /** Observe the fire's lag: only the attempt that took the fire on some node does. */
  observeLag: boolean;
  /** The schedule goes and the invocation may end: its last fire, or no node may fire again. */
  endSchedule: boolean;
  /**
   * The nodes that counted the job's own, passed-over slot as skipped in this attempt: the
   * attempt that counts it logs it (a retry that finds it counted everywhere logs nothing).
   */
  passedOverNodes: number;
}

/**
 * See AfterFire. `actions` holds one entry per node the fire fanned out to, or is undefined when
 * it did not fan out (a slot outside the allowed years): then no node counts as ended.
 */
export function planAfterFire(
  plan: FirePlan,
  actions: readonly NodeFireAction[] | undefined,
  nodeCount: number,
): AfterFire {
  if (actions === undefined) {
    return { observeLag: false, endSchedule: plan.final, passedOverNodes: 0 };
  }
  const allEnded = actions.filter((a) => a.ended).length === nodeCount;
  return {
    observeLag: actions.some((a) => a.fired),
    endSchedule: plan.final || allEnded,
    passedOverNodes: actions.filter((a) => a.countedPassedOver).length,
  };
}

/** BullMQ's terms for a repeating schedule (cron pattern in a zone, or a fixed interval). */
export type RepeatPlan =
  | { pattern: string; tz: string; startDate?: number; endDate?: number }
  | { every: number; startDate: number };

/**
 * How a schedule group is (re-)created at `nowMs`: an at() is one delayed job for its time;
 * a schedule with no slot left is `over` for its nodes (accepted because a node somewhere could
 * still run it, but not in this group's zone); else a repeat from the next slot on.
 */
export type SchedulePlan =
  | { kind: 'once'; fireMs: number; delayMs: number }
  | { kind: 'over' }
  | { kind: 'repeat'; repeat: RepeatPlan };

export function planSchedule(c: ScheduleClock, nowMs: number): SchedulePlan {
  const { freq } = c;
  if (freq.kind === 'at') return { kind: 'once', fireMs: freq.atMs, delayMs: freq.atMs - nowMs };
  const next = nextFire(freq, nowMs, slotOpts(c));
  if (next === undefined) return { kind: 'over' };
  // Aligned to creation + k·period: the first fire is one period after creation (or, when
  // re-asserted later, the next such slot).
  if (freq.kind === 'rate')
    return { kind: 'repeat', repeat: { every: freq.everyMs, startDate: next } };
  const window = cronWindow(freq, nowMs, c.zone);
  return {
    kind: 'repeat',
    repeat: {
      pattern: freq.pattern,
      tz: c.zone ?? 'UTC',
      ...(window.startMs !== undefined ? { startDate: window.startMs } : {}),
      ...(window.endMs !== undefined ? { endDate: window.endMs } : {}),
    },
  };
}

/** Whether none of these nodes' records may fire again (not timed any more, or gone). */
export function noneTimed(
  nodeIds: readonly string[],
  runs: ReadonlyMap<string, Pick<RunRecord, 'timed'>>,
): boolean {
  return nodeIds.every((id) => runs.get(id)?.timed !== true);
}

/** Of a fan-out's nodes, those whose run of `fire` was never taken ('' for a one-off run). */
export function undeliveredNodes(
  nodeIds: readonly string[],
  runs: ReadonlyMap<string, Pick<RunRecord, 'status' | 'fire'>>,
  fire: string,
): string[] {
  return nodeIds.filter((id) => {
    const r = runs.get(id);
    return r === undefined || (r.status === 'Pending' && r.fire === fire);
  });
}

/** Why a node never took its run: its agent is up (the delivery timed out) or it is not. */
export function undeliveredCode(
  info: NodeInfo | undefined,
  nowMs: number,
): 'DeliveryTimeout' | 'ClientNotRunning' {
  return info !== undefined && isOnline(info, nowMs) ? 'DeliveryTimeout' : 'ClientNotRunning';
}

/**
 * The zone a cron without one runs in on a node that reported `reported`: UTC when it reported
 * none; undefined when the zone is unknown (the caller logs it and uses UTC).
 */
export function nodeScheduleZone(reported: string): string | undefined {
  if (reported === '') return 'UTC';
  try {
    return normalizeZone(reported);
  } catch {
    return undefined;
  }
}

/** Nodes grouped by zone, one group per zone, in zone order (so group indexes are stable). */
export function groupByZone(
  zones: Iterable<readonly [nodeId: string, zone: string]>,
): { zone: string; nodeIds: string[] }[] {
  const byZone = new Map<string, string[]>();
  for (const [nodeId, zone] of zones) byZone.set(zone, [...(byZone.get(zone) ?? []), nodeId]);
  return [...byZone.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([zone, nodeIds]) => ({ zone, nodeIds }));
}

/** A boot-triggered invocation's trigger: `final` when it runs at the next boot only. */
export function bootTriggerOf(mode: RepeatMode): { final: boolean } | undefined {
  if (mode !== 'NextRebootOnly' && mode !== 'EveryReboot') return undefined;
  return { final: mode === 'NextRebootOnly' };
}

/** What the upkeep does with a timed invocation, from its recorded progress. */
export type UpkeepStep = 'finishStop' | 'dispatch' | 'waitDispatch' | 'check';

/**
 * A stop cut short is finished; an invocation not yet dispatched after `graceMs` (its dispatch
 * job still to run, or given up: Redis away through all its attempts) is dispatched here (every
 * step is idempotent); a younger one is left to its job; a dispatched one is checked (ended?
 * schedules missing?).
 */
export function planUpkeep(
  progress: { dispatchedMs?: number | undefined; stoppedMs?: number | undefined },
  createdMs: number,
  nowMs: number,
  graceMs: number,
): UpkeepStep {
  if (progress.stoppedMs !== undefined) return 'finishStop';
  if (progress.dispatchedMs === undefined) {
    return nowMs - createdMs > graceMs ? 'dispatch' : 'waitDispatch';
  }
  return 'check';
}

/**
 * A node is lost once this many of its own heartbeats went by unheard, whatever
 * FLEETCMD_NODE_LOST_SECONDS says: an agent configured with a slower heartbeat than the
 * server's is not ended for being slow.
 */
export const LOST_AFTER_OWN_HEARTBEATS = 3;

/** A node whose agent has not been heard of for too long (see planNodeLost). */
export interface LostNode {
  nodeId: string;
  /** The heartbeat (or registration) it was last heard of; the lost-run script checks it again. */
  seenMs: number;
  /** How long it has been silent, in whole seconds. */
  silentSeconds: number;
}

/**
 * Whether a node is lost at `nowMs` (Redis's clock): silent for `lostAfterMs`
 * (FLEETCMD_NODE_LOST_SECONDS) and for LOST_AFTER_OWN_HEARTBEATS of its own heartbeats. A node
 * with no heartbeat or registration time, or one before 1970 or in the future (a record a node
 * wrote itself), is never judged lost: its runs are left as they are.
 */
export function planNodeLost(
  info: NodeInfo,
  nowMs: number,
  lostAfterMs: number,
): LostNode | undefined {
  const seenMs = lastSeenMs(info);
  if (seenMs === undefined || !(seenMs >= 0 && seenMs <= nowMs)) return undefined;
  const ownMs = info.heartbeatSeconds * 1000 * LOST_AFTER_OWN_HEARTBEATS;
  const afterMs = Math.max(lostAfterMs, Number.isFinite(ownMs) ? ownMs : 0);
  if (nowMs - seenMs < afterMs) return undefined;
  return { nodeId: info.nodeId, seenMs, silentSeconds: Math.floor((nowMs - seenMs) / 1000) };
}

/**
 * What a run on a lost node becomes: a Running one Error, a Stopping one Terminated (it was
 * being stopped; its agent cannot say how it ended); any other status is left as it is (a
 * Pending run is the delivery deadline's, a final one stays final). run-lost-5.lua does the
 * same compare-and-set atomically.
 */
export function lostRunEnd(status: string): 'Error' | 'Terminated' | undefined {
  if (status === 'Running') return 'Error';
  if (status === 'Stopping') return 'Terminated';
  return undefined;
}

/** The ErrorInfo of a run ended as lost: the vendor's text, then who stopped responding when. */
export function lostRunInfo(lost: LostNode): string {
  const seen = new Date(lost.seenMs).toISOString().replace(/\.\d{3}Z$/, 'Z');
  return (
    `${RUN_ERRORS.ClientNotResponse}: the agent on node ${lost.nodeId} stopped responding ` +
    `(last heartbeat ${seen}, ${lost.silentSeconds} s ago)`
  );
}

/**
 * How often the upkeep runs: every UPKEEP_EVERY_MS (a minute), or often enough that a run on a
 * lost node ends within a third of FLEETCMD_NODE_LOST_SECONDS after the deadline (at least
 * every second).
 */
export function upkeepEveryMs(everyMs: number, lostAfterMs: number): number {
  return Math.max(1000, Math.min(everyMs, Math.floor(lostAfterMs / 3)));
}
