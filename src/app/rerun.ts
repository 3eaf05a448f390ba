import type { Invocation } from '../domain/invocation.js';
import { FINAL_NODE_STATUSES, type NodeStatus } from '../domain/status.js';
import type { ActionDeps } from './deps.js';
import { AppError } from './errors.js';
import { forNodes } from './for-nodes.js';
import type { InvocationRequest } from './submit-invocation.js';

/** What a rerun selects by default: every final status but Success. */
export const DEFAULT_RERUN_STATUSES: readonly NodeStatus[] = [...FINAL_NODE_STATUSES].filter(
  (s) => s !== 'Success',
);

/**
 * The invocation to create for a rerun of `inv`: the same content, parameters (as stored),
 * saved command, user, directory, timeout, termination mode, launcher and rollout limits, once
 * (a timed invocation's rerun runs once), on the nodes whose last run ended with one of
 * `statuses`, in the original order. A node whose run has not ended is never selected. 400
 * InvalidParameter.Status when no node matches.
 */
export async function rerunRequest(
  inv: Invocation,
  statuses: readonly NodeStatus[],
  deps: ActionDeps,
): Promise<InvocationRequest> {
  const wanted = new Set<string>(statuses);
  const last = new Map<string, string>();
  await forNodes(inv.nodeIds, async (nodeId) => {
    const run = await deps.runs.rollouts.runOf(nodeId, inv.invokeId, undefined);
    if (run) last.set(nodeId, run.status);
  });
  const nodeIds = inv.nodeIds.filter((n) => wanted.has(last.get(n) ?? ''));
  if (nodeIds.length === 0) {
    throw new AppError(
      'InvalidParameter.Status',
      `Status: no node of ${inv.invokeId} last ended ${statuses.join(', ')}`,
    );
  }
  return {
    commandId: inv.commandId,
    name: inv.name,
    description: inv.description,
    content: inv.content,
    nodeIds,
    frequency: '',
    repeatMode: 'Once',
    timeoutSeconds: inv.timeoutSeconds,
    username: inv.username,
    workingDir: inv.workingDir,
    parameters: inv.parameters,
    enableParameter: inv.enableParameter,
    terminationMode: inv.terminationMode,
    launcher: inv.launcher,
    maxConcurrency: inv.maxConcurrency ?? '',
    maxErrors: inv.maxErrors ?? '',
  };
}
