import type { Invocation, RunRecord } from '../domain/invocation.js';
import { aggregateStatus, isFinalNodeStatus, type NodeStatus } from '../domain/status.js';
import type { EventStore } from '../store/event-store.js';
import type { InvocationStore } from '../store/invocation-store.js';
import type { RunStore } from '../store/run-store.js';

export interface TimedFinishedDeps {
  runs: RunStore;
  /** @default none: nothing is announced (the invocation may retire at once) */
  events?: EventStore | undefined;
}

/**
 * A timed invocation that fires no more (stopped, or its schedule over) announces
 * InvocationFinished once every node's record is final: the aggregate status and the records
 * by status, as DescribeInvocations shows them (a node whose record has expired is not
 * counted), after every run's RunFinished. Answers whether the invocation may retire (leave
 * the timed set): true once it was announced (now or before: ev-finished-4.lua's flag makes it
 * once across replicas and restarts), false while a node's run has not ended or the relay has
 * not copied its end yet: it is then listed as finishing, and the event relay asks again
 * (retireWhenFinished) soon after its next run's end is copied; the upkeep also asks again.
 */
export async function announceTimedFinished(
  inv: Invocation,
  deps: TimedFinishedDeps,
  /** Its records, when just read. */
  read?: ReadonlyMap<string, RunRecord>,
): Promise<boolean> {
  if (!deps.events) return true;
  const runs = read ?? (await deps.runs.read(inv.invokeId, inv.nodeIds, false));
  const statuses: NodeStatus[] = [...runs.values()].map((r) => r.status);
  if (!statuses.every(isFinalNodeStatus)) {
    await deps.events.markFinishing(inv.invokeId);
    return false;
  }
  const counts: Record<string, number> = {};
  for (const s of statuses) counts[s] = (counts[s] ?? 0) + 1;
  const said = await deps.events.announceFinished(inv.invokeId, inv.nodeIds, {
    InvokeId: inv.invokeId,
    InvocationStatus: statuses.length > 0 ? aggregateStatus(statuses) : 'Stopped',
    NodeCount: inv.nodeIds.length,
    Counts: counts,
  });
  return said === 'announced';
}

export interface RetireDeps extends TimedFinishedDeps {
  invocations: InvocationStore;
}

/**
 * Retires a timed invocation that fires no more once it is announced (announceTimedFinished):
 * it leaves the timed set and expires after the retention. Answers whether it retired.
 */
export async function retireIfFinished(
  inv: Invocation,
  deps: RetireDeps,
  /** Its records, when just read. */
  read?: ReadonlyMap<string, RunRecord>,
): Promise<boolean> {
  if (!(await announceTimedFinished(inv, deps, read))) return false;
  await deps.invocations.markEnded(inv.invokeId);
  return true;
}

/**
 * The relay's retry for a finishing invocation (one that fires no more, whose
 * InvocationFinished waited for its runs' ends): retireIfFinished once every run has ended and
 * been relayed. Answers whether it is done with (announced and retired, or gone).
 */
export async function retireWhenFinished(invokeId: string, deps: RetireDeps): Promise<boolean> {
  const inv = await deps.invocations.get(invokeId);
  if (!inv) {
    await deps.events?.unmarkFinishing(invokeId);
    return true;
  }
  return retireIfFinished(inv, deps);
}
