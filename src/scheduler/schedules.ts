import type { Frequency } from '../domain/frequency.js';
import type { Invocation } from '../domain/invocation.js';
import { groupZone, noneTimed, planSchedule } from '../domain/schedule-plan.js';
import type { ScheduleGroup } from '../store/invocation-store.js';
import type { FireData } from '../store/queues.js';
import type { SchedulerContext } from './context.js';
import { hasRollout } from '../domain/rollout.js';
import { endIfOver } from './end-if-over.js';
import { forNodes } from './for-nodes.js';

/**
 * Whether a group lacks the schedule it needs: BullMQ has none, and some node may still fire
 * (a group whose nodes all ended, stopped or their last fire taken, needs none).
 */
async function lacksSchedule(
  ctx: SchedulerContext,
  inv: Invocation,
  g: ScheduleGroup,
): Promise<boolean> {
  if (await ctx.deps.schedulerQueue.hasSchedule(g.id)) return false;
  const runs = await ctx.deps.runs.read(inv.invokeId, g.nodeIds, false);
  return !noneTimed(g.nodeIds, runs);
}

/** Creates each group's schedule (only the missing ones when `onlyMissing`). */
export async function assertSchedules(
  ctx: SchedulerContext,
  inv: Invocation,
  freq: Frequency,
  groups: readonly ScheduleGroup[],
  onlyMissing: boolean,
): Promise<void> {
  const { deps } = ctx;
  const now = ctx.now();
  for (const g of groups) {
    const data: FireData = { invokeId: inv.invokeId, nodeIds: g.nodeIds, zone: g.zone };
    const plan = planSchedule({ freq, createdMs: inv.createdMs, zone: groupZone(g.zone) }, now);
    if (plan.kind === 'once') {
      // A fixed job id: adding it again while it waits changes nothing, and a fire that
      // already happened is refused by every node's record.
      await deps.schedulerQueue.addOneFire(
        g.id,
        plan.delayMs,
        { ...data, fireMs: plan.fireMs },
        !hasRollout(inv),
      );
      continue;
    }
    if (onlyMissing && !(await lacksSchedule(ctx, inv, g))) continue;
    if (plan.kind === 'over') {
      await forNodes(g.nodeIds, async (nodeId) => {
        await deps.runs.stop(nodeId, inv.invokeId);
      });
      deps.log.info({ invokeId: inv.invokeId, zone: g.zone }, 'schedule has no fire left');
      await endIfOver(ctx, inv);
      continue;
    }
    // With a rollout, the scheduler releases the fire's nodes itself: at the slot, as before.
    await deps.schedulerQueue.upsertSchedule(g.id, plan.repeat, data, !hasRollout(inv));
  }
}
