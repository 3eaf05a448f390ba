import { planUpkeep } from '../domain/schedule-plan.js';
import { stopInvocationNodes } from '../app/stop-invocation.js';
import type { SchedulerContext } from './context.js';
import { dispatchTimed } from './dispatch.js';
import { endIfOver } from './end-if-over.js';
import { assertSchedules } from './schedules.js';

/** How often a scheduler repairs missing schedules and retires ended invocations. */
export const UPKEEP_EVERY_MS = 60_000;

async function upkeepOne(ctx: SchedulerContext, invokeId: string): Promise<void> {
  const { deps } = ctx;
  const loaded = await ctx.load(invokeId);
  if (!loaded) {
    await deps.invocations.markEnded(invokeId);
    return;
  }
  const { inv, freq } = loaded;
  const progress = await deps.invocations.progress(invokeId);
  switch (planUpkeep(progress, inv.createdMs, ctx.now(), UPKEEP_EVERY_MS)) {
    case 'finishStop':
      await stopInvocationNodes(inv, inv.nodeIds, { ...deps, clock: () => ctx.now() });
      return;
    case 'dispatch':
      await dispatchTimed(ctx, inv, freq);
      return;
    case 'waitDispatch':
      return;
    case 'check': {
      if (await endIfOver(ctx, inv)) return;
      const groups = await deps.invocations.schedules(invokeId);
      if (freq && groups) await assertSchedules(ctx, inv, freq, groups, true);
    }
  }
}

/**
 * Upkeep of timed invocations, at start and every minute: finishes a whole stop that was cut
 * short, retires invocations none of whose nodes may fire again (a NextRebootOnly invocation
 * ends on its node, with no server watching), and re-creates schedules that went missing.
 * Each invocation on its own: one that fails is logged and retried next time.
 */
export async function upkeep(ctx: SchedulerContext): Promise<void> {
  const { deps } = ctx;
  // Once per deployment (then a cached flag): index older invocations by node.
  const walked = await deps.invocations.backfillNodeIndexes(ctx.now());
  if (walked > 0) deps.log.info({ walked }, 'invocations added to the per-node indexes');
  for (const invokeId of await deps.invocations.timedIds()) {
    try {
      await upkeepOne(ctx, invokeId);
    } catch (err) {
      deps.log.warn({ invokeId, err: String(err) }, 'schedule upkeep failed for invocation');
    }
  }
}
