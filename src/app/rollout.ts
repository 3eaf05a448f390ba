import type { Invocation } from '../domain/invocation.js';
import { ERROR_STATUSES, hasRollout, MAX_ERRORS_EXCEEDED } from '../domain/rollout.js';
import { RUN_ERRORS } from '../domain/run-errors.js';
import { isFinalNodeStatus, NODE_STATUSES, type NodeStatus } from '../domain/status.js';
import type { InvocationStore } from '../store/invocation-store.js';
import { rolloutWatchId, type NodeQueues, type SchedulerQueue } from '../store/queues.js';
import type { RunStore } from '../store/run-store.js';
import { forNodes } from './for-nodes.js';
import { toRunJob } from './run-job-data.js';

/**
 * Rollout control (MaxConcurrency, MaxErrors) and output groups, kept as runs end. Every run's
 * end is published by the script that settles it (prelude.lua); each scheduler counts it once
 * (inv-fold-5.lua) and, when its fire has a rollout, takes the next step (ro-step-4.lua): both
 * scripts are atomic in the invocation's slot, so replicas may race. A tick per rollout (a
 * BullMQ job scheduler) reads the released nodes' records, counting ends whose notice no
 * scheduler heard and queueing again a released job a crash lost, so no crash strands a
 * rollout. Jobs have fixed ids and the agent's claim is a compare-and-set: nothing runs twice.
 */

export interface RolloutDeps {
  runs: RunStore;
  nodeQueues: NodeQueues;
  schedulerQueue: SchedulerQueue;
  deliveryTimeoutSeconds: number;
}

/** How often a rollout's tick runs. */
export const ROLLOUT_TICK_MS = 1_000;

/** The rollout's tick first, so a crash right after leaves it to carry on; then the first step. */
export async function startRollout(
  inv: Invocation,
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
export async function stepRollout(inv: Invocation, fire: string, deps: RolloutDeps): Promise<void> {
  const { invokeId } = inv;
  const step = await deps.runs.rollouts.step(invokeId, fire);
  if (step.kind === 'None') {
    await deps.schedulerQueue.removeRolloutTick(invokeId, fire);
    return;
  }
  if (step.kind === 'Release' && step.nodeIds.length > 0) {
    await deps.schedulerQueue.addFireWatch(
      rolloutWatchId(invokeId, fire, step.from),
      deps.deliveryTimeoutSeconds * 1000,
      { invokeId, nodeIds: step.nodeIds, fire },
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

/**
 * A run's end as its settling script published it (`status\texitCode\tdigest\tfire`): counted
 * once in the groups, and the next step of its fire's rollout, if it has one.
 */
export async function runEnded(
  invokeId: string,
  nodeId: string,
  payload: string,
  deps: RolloutDeps & { invocations: InvocationStore },
): Promise<void> {
  const [status = '', exitCode = '', digest = '', fire = ''] = payload.split('\t');
  if (!isFinal(status)) return;
  const error = ERROR_STATUSES.has(status as NodeStatus);
  const r = await deps.runs.rollouts.fold(invokeId, fire, nodeId, {
    status,
    exitCode,
    digest,
    error,
  });
  if (r !== 'Rollout') return;
  const inv = await deps.invocations.get(invokeId);
  if (inv && hasRollout(inv)) await stepRollout(inv, fire, deps);
}

/**
 * A rollout's tick: each released node not yet counted is read; one that ended is counted (its
 * notice was lost), one still Pending for this fire gets its job again (a fixed id: a job
 * still queued is not doubled, and the claim refuses a second run). Then a step.
 */
export async function rolloutTick(
  invokeId: string,
  fire: string,
  deps: RolloutDeps & { invocations: InvocationStore },
): Promise<void> {
  const inv = await deps.invocations.get(invokeId);
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
      await deps.nodeQueues.addRun(nodeId, data);
    }
  });
  await stepRollout(inv, fire, deps);
}
