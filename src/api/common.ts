import { randomBytes } from 'node:crypto';
import type { Invocation, InvocationKind, RepeatMode, RunRecord } from '../domain/invocation.js';
import { base64Length, invocationKind } from '../domain/invocation.js';
import { aggregateOf, legacyInvokeStatus } from '../domain/status.js';
import { AppError, type ErrorCode } from '../errors.js';
import type { InvocationStore } from '../store/invocation-store.js';
import type { NodeStore } from '../store/node-store.js';
import type { NodeQueues, SchedulerQueue } from '../store/queues.js';
import type { CommandStore } from '../store/command-store.js';
import type { RunStore } from '../store/run-store.js';

/** What the command actions (actions.ts) and the file actions (file-actions.ts) share. */

export interface ActionDeps {
  invocations: InvocationStore;
  runs: RunStore;
  nodes: NodeStore;
  commands: CommandStore;
  nodeQueues: NodeQueues;
  schedulerQueue: SchedulerQueue;
  deliveryTimeoutSeconds: number;
  /** Shortest interval a Frequency may fire at. */
  minIntervalSeconds: number;
  clock: () => number;
  /** Counts the invocations this process creates. @default none */
  metrics?: { invocationCreated(kind: InvocationKind, repeatMode: RepeatMode): void };
}

export type Action = (body: unknown, deps: ActionDeps) => Promise<Record<string, unknown>>;

/** How a content field is checked: its name, its limit and the codes its faults answer. */
export interface ContentRules {
  field: string;
  encodingField: string;
  /** Limit once Base64-encoded, in bytes. */
  maxBase64Bytes: number;
  malformed: ErrorCode;
  tooLong: ErrorCode;
}

const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** 400 (rules.tooLong) when `bytes` are over the limit once Base64-encoded. */
export function checkContentLength(bytes: Buffer, rules: ContentRules, after = ''): void {
  const encodedLength = base64Length(bytes.length);
  if (encodedLength > rules.maxBase64Bytes) {
    throw new AppError(
      rules.tooLong,
      `${rules.field} is ${encodedLength} bytes once Base64-encoded${after}; the limit is ${rules.maxBase64Bytes}`,
    );
  }
}

/** The bytes a content field stands for, refused when malformed, empty or over its limit. */
export function decodeContent(
  text: string,
  encoding: 'PlainText' | 'Base64',
  rules: ContentRules,
): Buffer {
  let bytes: Buffer;
  if (encoding === 'Base64') {
    const compact = text.replace(/\s+/g, '');
    if (!BASE64_RE.test(compact)) {
      throw new AppError(
        rules.malformed,
        `${rules.field} is not valid Base64 (${rules.encodingField} is Base64)`,
      );
    }
    bytes = Buffer.from(compact, 'base64');
  } else {
    bytes = Buffer.from(text, 'utf8');
  }
  checkContentLength(bytes, rules);
  if (bytes.length === 0)
    throw new AppError('InvalidParameter', `${rules.field}: must not be empty`);
  return bytes;
}

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
export async function assertRegistered(deps: ActionDeps, nodeIds: readonly string[]) {
  const missing = await deps.nodes.missing([...nodeIds]);
  if (missing.length > 0) {
    throw new AppError(
      'InvalidNodeId.NotFound',
      `NodeIdList: node ${missing.map((m) => JSON.stringify(m)).join(', ')} has never registered`,
    );
  }
}

/**
 * Hash, then jobs, then the index: an invocation is listed only once its jobs are queued.
 * Answers whether this call wrote the hash (false for a retry that found it written).
 */
export async function createInvocation(inv: Invocation, deps: ActionDeps): Promise<boolean> {
  const { created, createdMs, enqueued } = await deps.invocations.create(inv);
  if (created) deps.metrics?.invocationCreated(invocationKind(inv), inv.repeatMode);
  if (enqueued) return created;
  // Fixed job ids: enqueueing again while the jobs exist changes nothing.
  const timed = inv.repeatMode !== 'Once';
  await deps.schedulerQueue.enqueueInvocation(
    inv.invokeId,
    timed ? undefined : deps.deliveryTimeoutSeconds * 1000,
  );
  await deps.invocations.publish(inv, createdMs, deps.clock(), timed);
  return created;
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

export function encodeToken(obj: unknown): string {
  return Buffer.from(JSON.stringify(obj)).toString('base64url');
}

export function decodeToken<T>(token: string, check: (v: unknown) => v is T): T {
  try {
    const v: unknown = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
    if (check(v)) return v;
  } catch {
    // fall through to the error below
  }
  throw new AppError('InvalidParameter', 'NextToken: is not a token this API returned');
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
