import type { Invocation } from '../domain/invocation.js';
import { ERROR_STATUSES } from '../domain/rollout.js';
import { FINAL_NODE_STATUSES, type NodeStatus } from '../domain/status.js';
import type { StoredGroup } from '../store/rollout-store.js';
import type { ActionDeps } from './deps.js';
import { AppError } from './errors.js';
import { existingInvocation } from './invocations.js';
import { forNodes } from './for-nodes.js';

/**
 * An invocation's output groups: its ended runs by identical status, exit code and output
 * digest (the agent's sha256 of the stored output), largest first. The counts are kept as runs
 * end (see app/rollout.ts), so once every node of a one-off invocation is counted an answer
 * reads O(groups), whatever the number of nodes. While some are not counted (still running, or
 * their RunFinished not relayed yet: no scheduler running) each node not counted is read and any
 * that ended is counted now: the answer never misses an ended run. A timed invocation's groups
 * count runs (every fire of every node), not nodes.
 */
export async function outputGroups(invokeId: string, deps: ActionDeps): Promise<StoredGroup[]> {
  const { rollouts } = deps.runs;
  const outline = await deps.invocations.outline(invokeId);
  if (!outline || outline.kind !== 'command') {
    throw new AppError(
      'InvalidInvokeId.NotFound',
      `InvokeId: no invocation ${JSON.stringify(invokeId)}`,
    );
  }
  if (outline.repeatMode === 'Once') {
    const counted = await rollouts.foldedCount(invokeId, '');
    if (counted < outline.nodeCount)
      await countEnded(await existingInvocation(deps, invokeId), deps);
  }
  const groups = await rollouts.groups(invokeId);
  return groups.sort(
    (a, b) =>
      b.count - a.count ||
      a.status.localeCompare(b.status) ||
      a.exitCode.localeCompare(b.exitCode) ||
      a.digest.localeCompare(b.digest),
  );
}

/** Counts each node's ended one-off run (fold is idempotent: one counted before is left). */
async function countEnded(inv: Invocation, deps: ActionDeps): Promise<void> {
  const { rollouts } = deps.runs;
  const uncounted = await rollouts.notCounted(inv.invokeId, '', inv.nodeIds);
  await forNodes(uncounted, async (nodeId) => {
    const run = await rollouts.runOf(nodeId, inv.invokeId, '');
    if (!run || !FINAL_NODE_STATUSES.has(run.status as NodeStatus)) return;
    const error = ERROR_STATUSES.has(run.status as NodeStatus);
    await rollouts.fold(inv.invokeId, '', nodeId, { ...run, error });
  });
}
