import type { Invocation } from '../domain/invocation.js';
import type { InvocationStore } from '../store/invocation-store.js';
import type { NodeQueues, SchedulerQueue } from '../store/queues.js';
import type { RunStore } from '../store/run-store.js';
import { retireIfFinished } from './timed-finished.js';
import type { EventStore } from '../store/event-store.js';

export interface StopDeps {
  invocations: InvocationStore;
  runs: RunStore;
  nodeQueues: NodeQueues;
  schedulerQueue: SchedulerQueue;
  clock?: () => number;
  /** InvocationFinished of a timed invocation. @default none: not announced */
  events?: EventStore | undefined;
}

/**
 * Stops an invocation on `targets` (StopInvocation, or the upkeep finishing one cut short).
 * Each node's stop is one script on its record: a run not started becomes Cancelled, a running
 * one Stopping (its agent is told), and a timed record refuses every later fire from that
 * moment, so nothing fires after this answers whatever a schedule still holds. When no node
 * may fire any more, the schedules are removed, and once every node's run has ended too
 * (retireIfFinished) the invocation is retired; until then it stays timed, and the
 * upkeep's next pass (which finishes a whole stop again) retires it. Idempotent.
 */
export async function stopInvocationNodes(
  inv: Invocation,
  targets: readonly string[],
  deps: StopDeps,
): Promise<void> {
  const timed = inv.repeatMode !== 'Once';
  const whole = inv.nodeIds.every((n) => targets.includes(n));
  // Recorded first: a stop cut short is finished by the upkeep, and a dispatch still under way
  // removes the schedules it makes.
  if (timed && whole) await deps.invocations.markStopping(inv.invokeId, (deps.clock ?? Date.now)());
  await Promise.all(
    targets.map(async (nodeId) => {
      const st = await deps.runs.stop(nodeId, inv.invokeId);
      if (st === 'Stopping') await deps.runs.notifyStop(nodeId, inv.invokeId);
      if (st === 'Cancelled' && !timed)
        await deps.nodeQueues.removeWaitingRun(nodeId, inv.invokeId).catch(() => false);
    }),
  );
  if (!timed) return;
  if (!whole) {
    const runs = await deps.runs.read(inv.invokeId, inv.nodeIds, false);
    if (!inv.nodeIds.every((n) => runs.get(n)?.timed === false)) return;
  }
  const groups = await deps.invocations.schedules(inv.invokeId);
  if (groups) await deps.schedulerQueue.removeSchedules(groups.map((g) => g.id));
  await retireIfFinished(inv, deps);
}
