import { randomBytes } from 'node:crypto';
import type { Invocation, InvocationKind, RunRecord } from '../domain/invocation.js';
import { invocationKind } from '../domain/invocation.js';
import { aggregateOf, legacyInvokeStatus } from '../domain/status.js';
import type { ActionDeps } from './deps.js';
import { AppError } from './errors.js';
import { fanOutOnce } from './fan-out.js';

/** The invocation records the use cases share: ids, creation, lookup by kind, status match. */

/**
 * Ids in the vendor's form: a prefix (`t-` command invocations, `f-` sent files, `c-` saved
 * commands) and 17 lowercase letters and digits.
 */
export function newId(prefix: 't-' | 'f-' | 'c-'): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  let id = prefix;
  for (const b of randomBytes(17)) id += alphabet[b % alphabet.length];
  return id;
}

/** 400 InvalidNodeId.NotFound unless every node has registered. */
export async function assertRegistered(
  deps: ActionDeps,
  nodeIds: readonly string[],
  field = 'NodeIdList',
) {
  const missing = await deps.nodes.missing([...nodeIds]);
  if (missing.length > 0) {
    throw new AppError(
      'InvalidNodeId.NotFound',
      `${field}: node ${missing.map((m) => JSON.stringify(m)).join(', ')} has never registered`,
    );
  }
}

/** See FLEETCMD_INLINE_FANOUT_NODES (config.ts). */
const DEFAULT_INLINE_FANOUT_NODES = 64;

/**
 * Hash, then jobs, then the index: an invocation is listed only once its jobs are queued.
 * Answers whether this call wrote the hash (false for a retry that found it written).
 */
export async function createInvocation(inv: Invocation, deps: ActionDeps): Promise<boolean> {
  const { created, createdMs, enqueued } = await deps.invocations.create(inv);
  if (created) deps.metrics?.invocationCreated(invocationKind(inv), inv.repeatMode);
  if (enqueued) return created;
  // Fixed job ids: enqueueing again while the jobs exist changes nothing.
  if (inv.repeatMode !== 'Once') {
    await announceCreated(inv, createdMs, deps);
    await deps.schedulerQueue.enqueueDispatch(inv.invokeId);
    await deps.invocations.publish(inv, createdMs, deps.clock(), true);
    return created;
  }
  // The deadline comes first: it also finishes a fan-out that a crash cut short, so an
  // answered run never waits out a dead replica's lock on a dispatch job.
  // Announced alongside (the deadline is one ZADD): no run exists before both are done.
  await Promise.all([
    announceCreated(inv, createdMs, deps),
    deps.schedulerQueue.deadlines.add(
      { kind: 'once', invokeId: inv.invokeId, again: false },
      deps.deliveryTimeoutSeconds * 1000,
    ),
  ]);
  if (inv.nodeIds.length > (deps.inlineFanOutNodes ?? DEFAULT_INLINE_FANOUT_NODES)) {
    // Many nodes: a scheduler job fans out, and the answer does not wait for it.
    await deps.schedulerQueue.enqueueDispatch(inv.invokeId);
    await deps.invocations.publish(inv, createdMs, deps.clock(), false);
    return created;
  }
  // Single hop: the runs are queued before the answer, so an answered run depends on no
  // scheduler job.
  await fanOutOnce(inv, deps);
  const nowMs = deps.clock();
  if (await deps.invocations.publish(inv, createdMs, nowMs, false, true)) {
    deps.metrics?.observeDispatchSeconds?.((nowMs - createdMs) / 1000);
  }
  return created;
}

/** The most node ids an InvocationCreated event lists (NodeCount counts them all). */
const EVENT_NODE_IDS = 100;

/**
 * InvocationCreated, before any of its runs exists (so before any of their events), once
 * however often a creation is retried. A one-off invocation's runs are counted down to its
 * InvocationFinished.
 */
async function announceCreated(inv: Invocation, createdMs: number, deps: ActionDeps) {
  const once = inv.repeatMode === 'Once';
  await deps.events?.announceCreated(
    inv.invokeId,
    createdMs,
    once ? inv.nodeIds.length : undefined,
    {
      InvokeId: inv.invokeId,
      Kind: invocationKind(inv),
      CommandId: inv.commandId,
      CommandName: inv.name,
      RepeatMode: inv.repeatMode,
      NodeCount: inv.nodeIds.length,
      NodeIds: inv.nodeIds.slice(0, EVENT_NODE_IDS),
    },
  );
}

/**
 * Creates an invocation for a client that has no token to retry with: on failure, what was
 * written is undone (if Redis lets us) before the error is answered.
 */
export async function createOrDiscard(inv: Invocation, deps: ActionDeps): Promise<void> {
  try {
    await createInvocation(inv, deps);
  } catch (err) {
    await deps.invocations.discard(inv).catch(() => undefined);
    throw err;
  }
}

/**
 * The invocation, or 404 InvalidInvokeId.NotFound: also when it is of the other kind, so the
 * command actions never show a sent file and the file actions never show a command.
 */
export async function existingInvocation(
  deps: ActionDeps,
  invokeId: string,
  kind: InvocationKind = 'command',
): Promise<Invocation> {
  const inv = await invocationOfKind(deps, invokeId, kind);
  if (!inv) {
    throw new AppError(
      'InvalidInvokeId.NotFound',
      `InvokeId: no invocation ${JSON.stringify(invokeId)}`,
    );
  }
  return inv;
}

/**
 * The invocation if it exists and is of `kind`: what an id taken from a NextToken (which a
 * client can forge) may be loaded with, so one kind's listing never shows the other kind.
 */
export async function invocationOfKind(
  deps: ActionDeps,
  invokeId: string,
  kind: InvocationKind,
): Promise<Invocation | undefined> {
  const inv = await deps.invocations.get(invokeId);
  return inv && invocationKind(inv) === kind ? inv : undefined;
}

/**
 * Whether an invocation's status, as shown (with `nodeId`, that node's alone), is `wanted`: an
 * aggregate status or its legacy name, in any case.
 */
export function statusIs(
  inv: Invocation,
  runs: ReadonlyMap<string, RunRecord>,
  nodeId: string | undefined,
  wanted: string,
): boolean {
  const shown = nodeId !== undefined ? [nodeId] : inv.nodeIds;
  const agg = aggregateOf(shown.map((id) => runs.get(id)?.status));
  const w = wanted.toLowerCase();
  return agg.toLowerCase() === w || legacyInvokeStatus(agg).toLowerCase() === w;
}
