import {
  lostRunInfo,
  planNodeLost,
  planUpkeep,
  upkeepEveryMs,
  type LostNode,
} from '../domain/schedule-plan.js';
import { stopInvocationNodes } from '../app/stop-invocation.js';
import type { SchedulerContext } from './context.js';
import { dispatchTimed } from './dispatch.js';
import { endIfOver } from './end-if-over.js';
import { assertSchedules } from './schedules.js';

/** How often a scheduler repairs missing schedules and retires ended invocations. */
export const UPKEEP_EVERY_MS = 60_000;

/** FLEETCMD_NODE_LOST_SECONDS's default, in ms (5 minutes). */
export const NODE_LOST_DEFAULT_MS = 300_000;

/** Node registrations read per round trip while looking for lost nodes. */
const NODE_BATCH = 500;

function nodeLostMs(ctx: SchedulerContext): number {
  const s = ctx.deps.nodeLostSeconds;
  return s === undefined ? NODE_LOST_DEFAULT_MS : s * 1000;
}

/** The upkeep job's period: a minute, shorter when FLEETCMD_NODE_LOST_SECONDS is short. */
export function upkeepPeriodMs(ctx: SchedulerContext): number {
  return upkeepEveryMs(UPKEEP_EVERY_MS, nodeLostMs(ctx));
}

async function endLostOnNode(ctx: SchedulerContext, lost: LostNode): Promise<void> {
  const { deps } = ctx;
  await deps.nodes.announceLost(lost.nodeId, lost.seenMs);
  const info = lostRunInfo(lost);
  for (const { invokeId, reply } of await deps.runs.endLost(
    lost.nodeId,
    lost.seenMs,
    'ClientNotResponse',
    info,
  )) {
    if (reply.outcome !== 'Ended') continue;
    deps.log.warn(
      {
        invokeId,
        nodeId: lost.nodeId,
        status: reply.status,
        errorCode: 'ClientNotResponse',
        lastHeartbeatMs: lost.seenMs,
        silentSeconds: lost.silentSeconds,
      },
      'run ended: its node stopped responding',
    );
  }
}

/**
 * Lost nodes are announced (NodeOffline, once: node-lost-2.lua) and their runs end (see
 * planNodeLost, run-lost-5.lua). Per pass: the registry (one
 * SMEMBERS), every node's registration (one HGETALL each, NODE_BATCH to a round trip), and only
 * for a node silent past the deadline one script call, its active set (one SMEMBERS) and one
 * script call per run in it. A node that fails is logged and tried again next pass.
 */
export async function endLostRuns(ctx: SchedulerContext): Promise<void> {
  const { deps } = ctx;
  const lostAfterMs = nodeLostMs(ctx);
  const ids = await deps.nodes.list(undefined, Number.MAX_SAFE_INTEGER);
  const nowMs = await deps.nodes.nowMs();
  for (let i = 0; i < ids.length; i += NODE_BATCH) {
    const batch = ids.slice(i, i + NODE_BATCH);
    const infos = await deps.nodes.getMany(batch).catch((err: unknown) => {
      deps.log.warn({ nodes: batch.length, err: String(err) }, 'node registrations not read');
      return [];
    });
    for (const info of infos) {
      const lost = info && planNodeLost(info, nowMs, lostAfterMs);
      if (!lost) continue;
      await endLostOnNode(ctx, lost).catch((err: unknown) =>
        deps.log.warn({ nodeId: lost.nodeId, err: String(err) }, 'runs of a lost node not ended'),
      );
    }
  }
}

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
 * Upkeep, at start and every upkeepPeriodMs: of timed invocations, finishes a whole stop that
 * was cut short, retires invocations none of whose nodes may fire again (a NextRebootOnly
 * invocation ends on its node, with no server watching), and re-creates schedules that went
 * missing, each invocation on its own (one that fails is logged and retried next time); then
 * ends the runs of lost nodes (endLostRuns).
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
  await endLostRuns(ctx).catch((err: unknown) =>
    deps.log.warn({ err: String(err) }, 'lost nodes not checked'),
  );
}
