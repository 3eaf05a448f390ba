import type { Frequency } from '../domain/frequency.js';
import type { Invocation } from '../domain/invocation.js';
import type { BootTrigger } from '../domain/run-job.js';
import { bootTriggerOf, groupByZone, nodeScheduleZone } from '../domain/schedule-plan.js';
import type { ScheduleGroup } from '../store/invocation-store.js';
import { oneFireId, scheduleId } from '../store/queues.js';
import type { SchedulerContext } from './context.js';
import { fanOutOnce } from '../app/fan-out.js';
import { forNodes } from '../app/for-nodes.js';
import { listedOnNodes, toRunJob } from '../app/run-job-data.js';
import { deliveryTimeout } from './delivery.js';
import { assertSchedules } from './schedules.js';

/** A node's reported zone as a schedule can use it; UTC when it reported none we know. */
function nodeZone(ctx: SchedulerContext, reported: string): string {
  const zone = nodeScheduleZone(reported);
  if (zone !== undefined) return zone;
  ctx.deps.log.warn({ zone: reported }, 'node reports an unknown time zone; using UTC');
  return 'UTC';
}

/**
 * One schedule per time zone: a cron expression without a zone fires at each node's own
 * reported zone, so nodes are grouped by it; every other form needs one schedule.
 */
async function scheduleGroups(
  ctx: SchedulerContext,
  inv: Invocation,
  freq: Frequency,
): Promise<ScheduleGroup[]> {
  const { nodeIds } = inv;
  if (freq.kind === 'at') return [{ id: oneFireId(inv.invokeId), zone: '', nodeIds }];
  if (freq.kind === 'rate') return [{ id: scheduleId(inv.invokeId, 0), zone: '', nodeIds }];
  if (freq.zone !== undefined) {
    return [{ id: scheduleId(inv.invokeId, 0), zone: freq.zone, nodeIds }];
  }
  const zones: [string, string][] = [];
  for (const nodeId of nodeIds) {
    zones.push([nodeId, nodeZone(ctx, (await ctx.deps.nodes.get(nodeId))?.timeZone ?? '')]);
  }
  return groupByZone(zones).map((g, i) => ({ id: scheduleId(inv.invokeId, i), ...g }));
}

/**
 * Creates a timed invocation's record on each node (with its boot trigger, for one that runs
 * at boot) and its schedules; also the upkeep's way to finish a dispatch that never ran.
 */
export async function dispatchTimed(
  ctx: SchedulerContext,
  inv: Invocation,
  freq: Frequency | undefined,
): Promise<void> {
  const { deps } = ctx;
  const trigger = bootTriggerOf(inv.repeatMode);
  const bootTrigger = trigger
    ? JSON.stringify({ final: trigger.final, job: toRunJob(inv) } satisfies BootTrigger)
    : undefined;
  const listedMs = listedOnNodes(inv);
  await forNodes(inv.nodeIds, async (nodeId) => {
    await deps.runs.create(nodeId, inv.invokeId, listedMs, bootTrigger ? { bootTrigger } : {});
  });
  if (freq) {
    // A retried dispatch reuses the groups recorded first, so schedule ids never change.
    const groups = await deps.invocations.recordSchedules(
      inv.invokeId,
      await scheduleGroups(ctx, inv, freq),
    );
    await assertSchedules(ctx, inv, freq, groups, false);
    // A stop that came before the schedules existed could not remove them.
    if ((await deps.invocations.progress(inv.invokeId)).stoppedMs !== undefined) {
      await deps.schedulerQueue.removeSchedules(groups.map((g) => g.id));
    }
  }
  await deps.invocations.markDispatched(inv.invokeId, ctx.now());
  deps.log.debug({ invokeId: inv.invokeId, mode: inv.repeatMode }, 'timed invocation dispatched');
}

/**
 * Creates each node's record and, for a one-off run, enqueues its job at once: a timed
 * invocation's dispatch job; for a one-off one, RunCommand fans out itself (see fan-out.ts),
 * and this finishes a fan-out cut short (or runs a dispatch job of an earlier version).
 */
export async function dispatch(ctx: SchedulerContext, invokeId: string): Promise<void> {
  const { deps } = ctx;
  const loaded = await ctx.load(invokeId);
  if (!loaded) throw new Error(`invocation ${invokeId} not found`);
  const { inv, freq } = loaded;
  if (inv.repeatMode !== 'Once') {
    await dispatchTimed(ctx, inv, freq);
    return;
  }
  await fanOutOnce(inv, deps);
  // Only the attempt that completes the dispatch first observes it (a retried job does not).
  if (await deps.invocations.markDispatched(invokeId, ctx.now())) {
    deps.metrics?.observeDispatchSeconds((ctx.now() - inv.createdMs) / 1000);
  }
  deps.log.debug({ invokeId, nodes: inv.nodeIds.length }, 'dispatched');
}

/**
 * A one-off invocation's delivery deadline. RunCommand fanned it out before answering, so the
 * nodes that have not taken their job by now are Aborted. If it never finished the fan-out (a
 * crash or an outage cut the creation short, before any answer), the deadline finishes it
 * instead and sets a new deadline from now: a run is never Aborted for a fan-out that had not
 * happened, and a crash never leaves a run waiting on a scheduler job's lock.
 */
export async function deliveryDeadline(ctx: SchedulerContext, invokeId: string): Promise<void> {
  const { deps } = ctx;
  const { dispatchedMs } = await deps.invocations.progress(invokeId);
  if (dispatchedMs !== undefined) return deliveryTimeout(ctx, invokeId);
  if (!(await ctx.load(invokeId))) return;
  deps.log.warn({ invokeId }, 'finishing a one-off fan-out cut short');
  await dispatch(ctx, invokeId);
  await deps.schedulerQueue.deadlines.add(
    { kind: 'once', invokeId, again: true },
    deps.deliveryTimeoutSeconds * 1000,
  );
}
