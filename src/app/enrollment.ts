import { randomBytes } from 'node:crypto';
import { isOnline } from '../domain/node.js';
import { isFinalNodeStatus } from '../domain/status.js';
import type { ActivationRecord, ActivationStore } from '../store/activation-store.js';
import type { NodeCredentials } from '../store/node-acl.js';
import type { NodeStore } from '../store/node-store.js';
import type { ActionDeps } from './deps.js';
import { AppError } from './errors.js';
import { inCidr } from './ip-range.js';
import { stopInvocationNodes } from './stop-invocation.js';
import { NODE_ID_RE } from '../shared/config.js';
import { type RedisTarget, withCredentials } from '../shared/redis-target.js';

/** What RegisterNode needs besides the request. */
export interface EnrollDeps {
  activations: ActivationStore;
  credentials: NodeCredentials;
  nodes: NodeStore;
  /** Where agents reach Redis (its credentials are replaced by the node's). */
  agentRedis: RedisTarget;
  prefix: string;
}

export interface RegisterRequest {
  activationId: string;
  code: string;
  nodeId?: string | undefined;
  hostname?: string | undefined;
  /** The caller's address, as the HTTP server sees it (see FLEETCMD_TRUST_PROXY). */
  ip: string;
}

export interface Registered {
  nodeId: string;
  /** Where the node reaches Redis, with its own user and password (shown once). */
  redis: RedisTarget;
  prefix: string;
  activationId: string;
}

/** The refusals of act-reserve-2.lua, as API errors. */
function reserveRefusal(word: string, a: ActivationRecord, nodeId: string): AppError {
  switch (word) {
    case 'Missing':
      return new AppError('InvalidActivationId.NotFound', `no activation ${a.activationId}`);
    case 'Disabled':
      return new AppError('Activation.Disabled', `activation ${a.activationId} is disabled`);
    case 'Expired':
      return new AppError('Activation.Expired', `activation ${a.activationId} has expired`);
    case 'Already':
      return new AppError('InvalidNodeId.Taken', `node ${nodeId} is registered already`);
    default:
      return new AppError(
        'Activation.InstanceCountExceeded',
        `activation ${a.activationId} allows ${a.instanceCount} nodes, and that many are registered`,
      );
  }
}

/** The node id asked for, else InstanceName plus a short random suffix, else the host name. */
function chooseNodeId(req: RegisterRequest, a: ActivationRecord): string {
  if (req.nodeId !== undefined) return req.nodeId;
  if (a.instanceName !== '') return `${a.instanceName}-${randomBytes(3).toString('hex')}`;
  const host = (req.hostname ?? '').split('.')[0] ?? '';
  if (NODE_ID_RE.test(host)) return host;
  throw new AppError(
    'InvalidParameter',
    'NodeId: required, as the activation has no InstanceName and Hostname is not a valid node id',
  );
}

/**
 * Checks the activation (code first, compared in constant time, so nothing else about it is
 * told to a caller without it), then the caller's address and the node id.
 */
async function checkActivation(req: RegisterRequest, deps: EnrollDeps): Promise<ActivationRecord> {
  const codeOk = await deps.activations.codeMatches(req.activationId, req.code);
  const a = await deps.activations.get(req.activationId);
  if (!a) {
    throw new AppError(
      'InvalidActivationId.NotFound',
      `ActivationId: no activation ${JSON.stringify(req.activationId)} (never created, or deleted)`,
    );
  }
  if (!codeOk) {
    throw new AppError('InvalidActivationCode.Mismatch', 'ActivationCode: wrong code');
  }
  if (a.disabled) throw reserveRefusal('Disabled', a, '');
  if (a.expiresMs <= (await deps.nodes.nowMs())) throw reserveRefusal('Expired', a, '');
  if (a.ipAddressRange !== '' && !inCidr(req.ip, a.ipAddressRange)) {
    throw new AppError(
      'Activation.IpAddressNotAllowed',
      `the address ${req.ip} is outside the activation's IpAddressRange ${a.ipAddressRange}`,
    );
  }
  return a;
}

async function refuseTaken(nodeId: string, deps: EnrollDeps): Promise<void> {
  const info = await deps.nodes.get(nodeId);
  const live = info !== undefined && isOnline(info, await deps.nodes.nowMs());
  if (live || (await deps.credentials.exists(nodeId))) {
    throw new AppError(
      'InvalidNodeId.Taken',
      `NodeId: ${nodeId} is taken (${live ? 'its agent is running' : 'it has a Redis user'}); deregister it first`,
    );
  }
}

/**
 * RegisterNode: trades an activation's id and code for a node id and that node's own Redis
 * user. A refusal creates nothing; a failure after the node's place was counted gives it back.
 */
export async function registerNode(req: RegisterRequest, deps: EnrollDeps): Promise<Registered> {
  const a = await checkActivation(req, deps);
  const nodeId = chooseNodeId(req, a);
  await refuseTaken(nodeId, deps);
  if (!(await deps.activations.claimNode(nodeId, a.activationId))) {
    throw new AppError('InvalidNodeId.Taken', `NodeId: ${nodeId} is being registered`);
  }
  const word = await deps.activations.reserve(a.activationId, nodeId).catch(async (err) => {
    await deps.activations.unclaimNode(nodeId);
    throw err;
  });
  if (word !== 'Reserved') {
    await deps.activations.unclaimNode(nodeId);
    throw reserveRefusal(word, a, nodeId);
  }
  try {
    const user = await deps.credentials.create(nodeId);
    return {
      nodeId,
      redis: withCredentials(deps.agentRedis, user.username, user.password),
      prefix: deps.prefix,
      activationId: a.activationId,
    };
  } catch (err) {
    await deps.activations.release(a.activationId, nodeId, 'undo');
    await deps.activations.unclaimNode(nodeId);
    throw err;
  }
}

/** How many of a node's newest invocations deregistration looks through for unstarted runs. */
const DEREGISTER_SCAN = 1000;

/** Cancels the node's runs that have not started (Pending, Scheduled); how many. */
async function cancelPendingRuns(nodeId: string, deps: ActionDeps): Promise<number> {
  const page = await deps.invocations.page(DEREGISTER_SCAN, undefined, 'command', nodeId);
  const statuses = await deps.runs.statuses(page.map((p) => ({ nodeId, invokeId: p.invokeId })));
  const open = page.filter((_, i) => {
    const st = statuses[i];
    return st !== undefined && !isFinalNodeStatus(st) && st !== 'Stopping';
  });
  let cancelled = 0;
  for (const { invokeId } of open) {
    const inv = await deps.invocations.get(invokeId);
    if (!inv) continue;
    await stopInvocationNodes(inv, [nodeId], deps);
    cancelled += 1;
  }
  return cancelled;
}

/** A node's row of DeregisterNodes' answer. */
export interface Deregistered {
  NodeId: string;
  Removed: boolean;
  CancelledRuns: number;
  ActivationId: string;
}

/**
 * DeregisterNodes: for each node, tells its agent why it must stop, deletes its Redis user
 * (Redis closes its connections), stops its unfinished runs (unstarted ones end Cancelled) and
 * gives its place on its activation back (DeregisteredCount + 1).
 */
export async function deregisterNodes(
  nodeIds: readonly string[],
  deps: ActionDeps,
): Promise<Deregistered[]> {
  if (!deps.nodeCredentials || !deps.activations) {
    throw new AppError('InternalError', 'node credentials are not configured');
  }
  const out: Deregistered[] = [];
  for (const nodeId of nodeIds) {
    await deps.nodes.tell(nodeId, 'deregistered');
    const removed = await deps.nodeCredentials.remove(nodeId);
    const cancelled = await cancelPendingRuns(nodeId, deps);
    const activationId = (await deps.activations.enrollmentOf(nodeId)) ?? '';
    if (activationId !== '') {
      await deps.activations.release(activationId, nodeId, 'deregister');
      await deps.activations.unclaimNode(nodeId);
    }
    out.push({
      NodeId: nodeId,
      Removed: removed,
      CancelledRuns: cancelled,
      ActivationId: activationId,
    });
  }
  return out;
}
