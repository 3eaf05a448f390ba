import type { Invocation } from '../domain/invocation.js';
import {
  aheadSlot,
  FIRE_LEAD_MS,
  groupZone,
  planAfterFire,
  planCatchUp,
  planFire,
  planNodeFire,
  type FirePlan,
  type FireTiming,
  type NodeFireAction,
} from '../domain/schedule-plan.js';
import { hasRollout } from '../domain/rollout.js';
import { startRollout } from '../app/rollout.js';
import type { SchedulerContext } from './context.js';
import { endIfOver } from './end-if-over.js';
import { forNodes } from './for-nodes.js';
import { toRunJob } from './run-job-data.js';
import type { FireJob } from './scheduler-job.js';

/**
 * Fans one fire out to its nodes (with `passedOver`, each node that takes it and has not seen
 * the fire job's own, earlier slot `dueMs` also counts that slot as skipped); answers what each
 * node did. `ahead`: delivered before the slot; a node whose previous run has not ended gets
 * the job all the same, and its agent fires it on its record at the slot (skip or run).
 */
async function fanOut(
  ctx: SchedulerContext,
  inv: Invocation,
  nodeIds: string[],
  plan: FirePlan,
  job: { groupId: string; dueMs: number; ahead: boolean },
): Promise<NodeFireAction[]> {
  const { deps } = ctx;
  const fireId = `f${plan.fireMs}`;
  // With MaxConcurrency or MaxErrors, the rollout releases this fire's jobs, each release with
  // its own delivery check (app/rollout.ts).
  const rollout = hasRollout(inv);
  const ahead = job.ahead && !rollout;
  // The deadline first: a replica that dies mid-fan-out leaves no node Pending unwatched. A
  // fire sent ahead is due at its slot: the delivery timeout counts from there.
  if (!rollout) {
    const untilSlotMs = ahead ? Math.max(0, plan.fireMs - ctx.now()) : 0;
    await deps.schedulerQueue.deadlines.add(
      { kind: 'nodes', invokeId: inv.invokeId, fire: fireId, nodeIds },
      untilSlotMs + deps.deliveryTimeoutSeconds * 1000,
    );
  }
  const passedOverMs = plan.passedOver ? job.dueMs : undefined;
  const base = toRunJob(inv, fireId);
  /** The fire's job sent ahead; `fired`: the delivery moved the record to Pending for it. */
  const aheadJob = (fired: boolean) => ({
    ...base,
    ahead: {
      slotMs: plan.fireMs,
      fired,
      final: plan.final,
      ...(passedOverMs !== undefined ? { passedOverMs } : {}),
    },
  });
  const actions: NodeFireAction[] = [];
  const took = new Set<string>();
  await forNodes(nodeIds, async (nodeId) => {
    const reply = await deps.runs.fire(
      nodeId,
      inv.invokeId,
      fireId,
      plan.fireMs,
      plan.final,
      passedOverMs,
      ahead,
    );
    const action = planNodeFire(reply, fireId);
    actions.push(action);
    if (rollout) {
      // An older fire's job is its own rollout's to queue again (its tick does).
      if (action.enqueueFire === fireId) took.add(nodeId);
    } else if (action.enqueueFire !== undefined) {
      const data =
        ahead && action.enqueueFire === fireId
          ? aheadJob(reply.outcome !== 'Busy')
          : toRunJob(inv, action.enqueueFire);
      await deps.nodeQueues.addRun(nodeId, data);
    }
    if (action.skipped !== undefined) {
      deps.log.info({ invokeId: inv.invokeId, nodeId, fireId }, `fire skipped: ${action.skipped}`);
    }
  });
  if (rollout) {
    const order = nodeIds.filter((n) => took.has(n));
    await startRollout(inv, fireId, job.groupId, order, deps);
  }
  return actions;
}

/**
 * One fire of one schedule: each of its nodes whose record takes the fire gets a run job; a
 * node still busy with the previous run skips it (counted on its record). A job taken after a
 * later slot was due fires that slot instead (see planCatchUp). The last fire of a schedule
 * ends it, and a schedule none of whose nodes can fire any more removes itself.
 */
export async function fire(ctx: SchedulerContext, job: FireJob): Promise<void> {
  const { deps } = ctx;
  const { data } = job;
  const groupId = job.repeatJobKey ?? job.jobId ?? '';
  const loaded = await ctx.load(data.invokeId);
  if (!loaded?.freq || job.dueMs === undefined) {
    deps.log.warn({ jobId: job.jobId }, 'fire of an unknown invocation; schedule removed');
    if (job.repeatJobKey) await deps.schedulerQueue.removeSchedules([job.repeatJobKey]);
    return;
  }
  const { inv, freq } = loaded;
  const clock = { freq, createdMs: inv.createdMs, zone: groupZone(data.zone) };
  // A repeating fire sent ahead was due before its slot (an at()'s job carries its slot).
  const ahead = job.ahead && data.fireMs === undefined;
  const slotOf = (ms: number, sentAhead: boolean) =>
    sentAhead ? (aheadSlot(clock, ms) ?? ms) : ms;
  const dueMs = slotOf(job.dueMs, ahead);
  const timing: FireTiming = { ...clock, dueMs, nowMs: ctx.now(), scheduleKey: job.repeatJobKey };
  const step = planFire(timing);
  // Where BullMQ put the next job is read, not guessed: a slot with a job of its own is left to it.
  const plan =
    step.kind === 'plan'
      ? step.plan
      : planCatchUp(
          timing,
          step.ownNextMs,
          await deps.schedulerQueue
            .scheduledNext(step.scheduleKey)
            .then((next) => next && slotOf(next.dueMs, next.ahead)),
        );
  let actions: NodeFireAction[] | undefined;
  if (plan.fansOut) {
    const fanOutNow = async () => {
      actions = await fanOut(ctx, inv, data.nodeIds, plan, { groupId, dueMs, ahead: job.ahead });
      return actions.filter((a) => a.fired).length;
    };
    const held = {
      invokeId: inv.invokeId,
      jobId: job.jobId,
      dueMs,
      fireMs: plan.fireMs,
      pid: process.pid,
    };
    await (deps.pauseInFire ? deps.pauseInFire(held, fanOutNow) : fanOutNow());
  }
  const after = planAfterFire(plan, actions, data.nodeIds.length);
  // Logged by the attempt whose nodes counted it: a retry finds it counted and logs nothing.
  if (after.passedOverNodes > 0) {
    deps.log.info(
      {
        invokeId: inv.invokeId,
        fireId: `f${dueMs}`,
        supersededBy: `f${plan.fireMs}`,
        lateMs: ctx.now() - dueMs,
        nodes: after.passedOverNodes,
      },
      'fire skipped: a later slot was due when its job was taken',
    );
  }
  // Only an attempt that took the fire on some node observes it: a retried fire job finds
  // its fire already taken ('Already') everywhere it had been. The lag runs from the job's
  // own slot, not the one a late job fires instead, so a starved scheduler shows.
  // A fire sent ahead counts from when its job was due, before the slot.
  const jobDueMs = job.ahead && !ahead ? dueMs - FIRE_LEAD_MS : job.dueMs;
  if (after.observeLag) deps.metrics?.observeFireLagSeconds((ctx.now() - jobDueMs) / 1000);
  // The schedule goes (an at() has no scheduler, only this job).
  if (after.endSchedule) {
    if (job.repeatJobKey) await deps.schedulerQueue.removeSchedules([job.repeatJobKey]);
    await endIfOver(ctx, inv);
  }
}
