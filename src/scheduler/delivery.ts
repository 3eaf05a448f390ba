import { hasRollout } from '../domain/rollout.js';
import { RUN_ERRORS } from '../domain/run-errors.js';
import { undeliveredCode, undeliveredNodes } from '../domain/schedule-plan.js';
import type { SchedulerContext } from './context.js';

/**
 * Of these nodes, those whose run of `fire` is still Pending become Aborted (a fire's delivery
 * check; '' for a one-off run's).
 */
export async function abortUndelivered(
  ctx: SchedulerContext,
  invokeId: string,
  nodeIds: readonly string[],
  fire: string,
): Promise<void> {
  const { deps } = ctx;
  const late = undeliveredNodes(nodeIds, await deps.runs.read(invokeId, nodeIds, false), fire);
  const now = late.length > 0 ? await deps.nodes.nowMs() : 0;
  for (const nodeId of late) {
    const code = undeliveredCode(await deps.nodes.get(nodeId), now);
    const result = await deps.runs.abort(nodeId, invokeId, code, RUN_ERRORS[code], fire);
    if (result === 'Aborted') {
      await deps.nodeQueues.removeWaitingRun(nodeId, invokeId, fire).catch(() => false);
      deps.log.info({ invokeId, nodeId, code, fire }, 'run aborted: not delivered in time');
    }
  }
}

/**
 * Nodes that never took a one-off run's job by the deadline become Aborted (with a rollout,
 * each release has a delivery check of its own instead: see app/rollout.ts).
 */
export async function deliveryTimeout(ctx: SchedulerContext, invokeId: string): Promise<void> {
  const inv = await ctx.deps.invocations.get(invokeId);
  if (inv && !hasRollout(inv)) await abortUndelivered(ctx, invokeId, inv.nodeIds, '');
}
