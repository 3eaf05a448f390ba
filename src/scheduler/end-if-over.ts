import type { Invocation } from '../domain/invocation.js';
import { noneTimed } from '../domain/schedule-plan.js';
import type { SchedulerContext } from './context.js';

/**
 * Once no node of an invocation may fire again (its record is no longer timed, or has
 * expired), it leaves the timed set and expires. Answers whether it ended. Only for an
 * invocation whose records were all created (dispatched): before that a record that is not
 * there yet would read as ended.
 */
export async function endIfOver(ctx: SchedulerContext, inv: Invocation): Promise<boolean> {
  const runs = await ctx.deps.runs.read(inv.invokeId, inv.nodeIds, false);
  const over = noneTimed(inv.nodeIds, runs);
  if (over) await ctx.deps.invocations.markEnded(inv.invokeId);
  return over;
}
