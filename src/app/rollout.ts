import type { RunEnd } from '../domain/events.js';
import type { InvocationHead } from '../domain/invocation.js';
import type { Logger } from '../shared/log.js';
import { ERROR_STATUSES, hasRollout, MAX_ERRORS_EXCEEDED } from '../domain/rollout.js';
import { RUN_ERRORS } from '../domain/run-errors.js';
import { isFinalNodeStatus, NODE_STATUSES, type NodeStatus } from '../domain/status.js';
import type { InvocationStore } from '../store/invocation-store.js';
import type { NodeQueues, SchedulerQueue } from '../store/queues.js';
import type { RunStore } from '../store/run-store.js';
import { forNodes } from './for-nodes.js';
import { toRunJob } from './run-job-data.js';

/**
 * Rollout control (MaxConcurrency, MaxErrors) and output groups, kept as runs end. Every run's
 * end is appended to its node's event outbox by the script that settles it (RunFinished, see
 * prelude.lua); the schedulers' event relay hands each one here before its cursor moves past
 * it (runsEnded): it is counted once (inv-fold-6.lua) and, when its fire has a rollout, the
 * next step is taken (ro-step-4.lua). Both scripts are atomic in the invocation's slot, so
 * replicas may race. A tick per rollout (a BullMQ job scheduler) reads the released nodes'
 * records, counting ends the relay could not tell (an outbox trimmed while no scheduler ran)
 * and queueing again a released job a crash lost, so no crash strands a rollout. Jobs have
 * fixed ids and the agent's claim is a compare-and-set: nothing runs twice.
 */

export interface RolloutDeps {
  runs: RunStore;
  nodeQueues: NodeQueues;
  schedulerQueue: SchedulerQueue;
  deliveryTimeoutSeconds: number;
}

/** How often a rollout's tick runs: the bound on a repair, not the pace of a rollout. */
export const ROLLOUT_TICK_MS = 5_000;

/** The rollout's tick first, so a crash right after leaves it to carry on; then the first step. */
export async function startRollout(
  inv: InvocationHead,
  fire: string,
  groupId: string,
  nodeIds: readonly string[],
  deps: RolloutDeps,
): Promise<void> {
  await deps.schedulerQueue.upsertRolloutTick(inv.invokeId, fire, ROLLOUT_TICK_MS);
  const limits = { maxConcurrency: inv.maxConcurrency ?? '', maxErrors: inv.maxErrors ?? '' };
  await deps.runs.rollouts.init(inv.invokeId, fire, groupId, limits, nodeIds);
  await stepRollout(inv, fire, deps);
}

/** One step: queue the nodes it releases (after their delivery check), or cancel the rest. */
export async function stepRollout(
  inv: InvocationHead,
  fire: string,
  deps: RolloutDeps,
): Promise<void> {
  const { invokeId } = inv;
  const step = await deps.runs.rollouts.step(invokeId, fire);
  if (step.kind === 'None') {
    await deps.schedulerQueue.removeRolloutTick(invokeId, fire);
    return;
  }
  if (step.kind === 'Release' && step.nodeIds.length > 0) {
    await deps.schedulerQueue.deadlines.add(
      { kind: 'nodes', invokeId, fire, nodeIds: step.nodeIds },
      deps.deliveryTimeoutSeconds * 1000,
    );
    const data = toRunJob(inv, fire);
    await forNodes(step.nodeIds, (nodeId) => deps.nodeQueues.addRun(nodeId, data));
  }
  if (step.kind === 'Cancel') await cancelUnstarted(invokeId, fire, step.nodeIds, deps);
  if (step.done) await deps.schedulerQueue.removeRolloutTick(invokeId, fire);
}

/**
 * Errors exceeded MaxErrors: each node not started (Pending for this fire) ends Cancelled with
 * MaxErrorsExceeded; a running one is left to finish. Then the rollout is marked past them.
 */
async function cancelUnstarted(
  invokeId: string,
  fire: string,
  nodeIds: readonly string[],
  deps: RolloutDeps,
): Promise<void> {
  const info = RUN_ERRORS[MAX_ERRORS_EXCEEDED];
  await forNodes(nodeIds, async (nodeId) => {
    const r = await deps.runs.abort(nodeId, invokeId, MAX_ERRORS_EXCEEDED, info, fire, 'Cancelled');
    if (r !== 'Cancelled') return;
    await deps.nodeQueues.removeWaitingRun(nodeId, invokeId, fire).catch(() => false);
    await deps.runs.rollouts.fold(invokeId, fire, nodeId, {
      status: 'Cancelled',
      exitCode: '',
      digest: '',
      error: false,
    });
  });
  await deps.runs.rollouts.markCancelled(invokeId, fire);
}

function isNodeStatus(s: string): s is NodeStatus {
  return (NODE_STATUSES as readonly string[]).includes(s);
}

const isFinal = (s: string) => isNodeStatus(s) && isFinalNodeStatus(s);

/** What the relay's hook and the tick need beside the rollout's own stores. */
export interface RunEndDeps extends RolloutDeps {
  invocations: InvocationStore;
  log: Logger;
}

/**
 * Invocations as a rollout step needs them (immutable once created), for the relay's hook: a
 * rollout of thousands of nodes reads its invocation once, not at each run's end.
 */
export class InvocationHeads {
  private readonly cache = new Map<string, InvocationHead>();

  constructor(
    private readonly invocations: InvocationStore,
    private readonly max = 256,
  ) {}

  async get(invokeId: string): Promise<InvocationHead | undefined> {
    const hit = this.cache.get(invokeId);
    if (hit) return hit;
    const inv = await this.invocations.head(invokeId);
    if (!inv) return undefined;
    if (this.cache.size >= this.max) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
    this.cache.set(invokeId, inv);
    return inv;
  }
}

/**
 * Runs' ends of one node, as its RunFinished events tell them (the event relay's hook): each
 * counted once in its invocation's groups (a failure rejects, so the relay retries the batch),
 * then the next step of each rollout one of them counted in. A failed step is logged and left
 * to the rollout's tick.
 */
export async function runsEnded(
  nodeId: string,
  ends: readonly RunEnd[],
  deps: RunEndDeps & { heads: InvocationHeads },
): Promise<void> {
  // All at once: the scheduler's writer connection sends them as one pipeline, not a round trip
  // per end. Each fold counts its end once, so a batch retried after a failure counts none twice.
  const folded = await Promise.all(
    ends.map((e) =>
      deps.runs.rollouts.fold(e.invokeId, e.fire, nodeId, {
        ...e,
        error: ERROR_STATUSES.has(e.status),
      }),
    ),
  );
  const toStep = new Map<string, { invokeId: string; fire: string }>();
  for (const [i, e] of ends.entries()) {
    if (folded[i] === 'Rollout') toStep.set(`${e.invokeId}\t${e.fire}`, e);
  }
  for (const { invokeId, fire } of toStep.values()) {
    try {
      const inv = await deps.heads.get(invokeId);
      if (inv && hasRollout(inv)) await stepRollout(inv, fire, deps);
    } catch (err) {
      deps.log.warn({ invokeId, fire, err: String(err) }, 'rollout step failed; its tick retries');
    }
  }
}

/**
 * A rollout's tick: each released node not yet counted is read; one that ended is counted (its
 * event was never relayed), one still Pending for this fire gets a delivery check and its job
 * again (fixed ids: a job still queued is not doubled, and the claim refuses a second run).
 * Then a step.
 */
export async function rolloutTick(
  invokeId: string,
  fire: string,
  deps: RolloutDeps & { invocations: InvocationStore },
): Promise<void> {
  const inv = await deps.invocations.head(invokeId);
  if (!inv || !hasRollout(inv)) {
    await deps.schedulerQueue.removeRolloutTick(invokeId, fire);
    return;
  }
  const { rollouts } = deps.runs;
  const data = toRunJob(inv, fire);
  await forNodes(await rollouts.active(invokeId, fire), async (nodeId) => {
    const run = await rollouts.runOf(nodeId, invokeId, fire);
    if (!run) return;
    if (isFinal(run.status)) {
      const error = ERROR_STATUSES.has(run.status as NodeStatus);
      await rollouts.fold(invokeId, fire, nodeId, { ...run, error });
    } else if (run.status === 'Pending') {
      // A check due a full deadline from now, so never earlier than the release's own; the
      // same deadline, so later ticks add none while it waits.
      await deps.schedulerQueue.deadlines.add(
        { kind: 'nodes', invokeId, fire, nodeIds: [nodeId] },
        deps.deliveryTimeoutSeconds * 1000,
      );
      await deps.nodeQueues.addRun(nodeId, data);
    }
  });
  await stepRollout(inv, fire, deps);
}
