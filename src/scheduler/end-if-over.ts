import type { Invocation } from '../domain/invocation.js';
import { noneTimed } from '../domain/schedule-plan.js';
import { retireIfFinished } from '../app/timed-finished.js';
import type { SchedulerContext } from './context.js';

/**
 * Once no node of an invocation may fire again (its record is no longer timed, or has
 * expired), it is over: once every node's run has ended too it announces InvocationFinished
 * (retireIfFinished), leaves the timed set and expires; until then the upkeep asks again.
 * Answers whether it is over. Only for an
 * invocation whose records were all created (dispatched): before that a record that is not
 * there yet would read as ended.
 */
export async function endIfOver(ctx: SchedulerContext, inv: Invocation): Promise<boolean> {
  const runs = await ctx.deps.runs.read(inv.invokeId, inv.nodeIds, false);
  const over = noneTimed(inv.nodeIds, runs);
  if (over) await retireIfFinished(inv, ctx.deps, runs);
  return over;
}
