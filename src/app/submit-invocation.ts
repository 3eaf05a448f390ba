import { createHash } from 'node:crypto';
import { FrequencyError, parseFrequency } from '../domain/frequency.js';
import type { Invocation, RepeatMode } from '../domain/invocation.js';
import { MAX_CONTENT_BASE64_BYTES } from '../domain/invocation.js';
import { checkValues, ParameterError, parameterNames, substitute } from '../domain/params.js';
import { AppError } from './errors.js';
import { LimitError, parseLimit } from '../domain/rollout.js';
import { assertRegistered, createInvocation, createOrDiscard, newId } from './invocations.js';
import { checkContentLength, decodeContent, type ContentRules } from './content.js';
import type { ActionDeps } from './deps.js';
import { offlineNodes } from './targets.js';

/**
 * The one path that creates an invocation, for RunCommand and InvokeCommand alike: content,
 * schedule, parameters and nodes are checked before anything is written, then ClientToken
 * idempotency, the invocation hash, its jobs and its index entry.
 */

/** How CommandContent is checked. */
export const COMMAND_CONTENT: ContentRules = {
  field: 'CommandContent',
  encodingField: 'ContentEncoding',
  maxBase64Bytes: MAX_CONTENT_BASE64_BYTES,
  malformed: 'InvalidCommandContent.Malformed',
  tooLong: 'InvalidCommandContent.LengthLimitExceeded',
};

/** CommandContent as bytes: decoded per ContentEncoding, within the limit, not empty. */
export function decodeCommandContent(text: string, encoding: 'PlainText' | 'Base64'): Buffer {
  return decodeContent(text, encoding, COMMAND_CONTENT);
}

/** The custom parameter names of a content (400 InvalidParameter for a bad template). */
export function contentParameterNames(content: Buffer): string[] {
  return withParameterErrors(() => parameterNames(content));
}

function withParameterErrors<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof ParameterError) throw new AppError('InvalidParameter', err.message);
    throw err;
  }
}

/**
 * The invocation's RepeatMode and Frequency: a Frequency makes it Period whatever RepeatMode
 * says (SPEC §3), and is validated here, against now, so a bad one is refused with a message
 * naming the field at fault and nothing is created.
 */
function schedule(
  text: string,
  mode: RepeatMode | undefined,
  deps: ActionDeps,
): { repeatMode: RepeatMode; frequency: string } {
  if (text.trim() === '') {
    if (mode === 'Period') {
      throw new AppError('MissingParameter', 'Frequency: is required when RepeatMode is Period');
    }
    return { repeatMode: mode ?? 'Once', frequency: '' };
  }
  try {
    parseFrequency(text, { nowMs: deps.clock(), minIntervalSeconds: deps.minIntervalSeconds });
  } catch (err) {
    if (err instanceof FrequencyError)
      throw new AppError('InvalidParameter.Frequency', err.message);
    throw err;
  }
  return { repeatMode: 'Period', frequency: text.trim() };
}

/** How long a ClientToken is remembered. */
const CLIENT_TOKEN_TTL_SECONDS = 24 * 3600;

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** JSON with object keys sorted, so equal requests give equal text whatever their key order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** What RunCommand and InvokeCommand ask for, once each has resolved its fields. */
export interface InvocationRequest extends Omit<
  Invocation,
  'invokeId' | 'createdMs' | 'repeatMode' | 'parameters'
> {
  /** Absent: Once, or Period when there is a Frequency. */
  repeatMode: RepeatMode | undefined;
  /** As sent: numbers and booleans are turned into text. */
  parameters: Record<string, string | number | boolean>;
}

/** A request to create an invocation, as submitInvocation takes it. */
export interface Submission {
  clientToken: string | undefined;
  /**
   * The request as the client sent it, without ClientToken: a retry with the same token must
   * send the same (key order and explicit defaults aside), or it answers 409.
   */
  request: Record<string, unknown>;
  /**
   * The invocation's fields. Called only when the request is not a retry of one that created
   * its invocation already, so a retry needs nothing a first request read (a saved command
   * since deleted, a moment since past).
   */
  resolve: () => InvocationRequest | Promise<InvocationRequest>;
  /** RepeatMode DryRun: check everything, write nothing, answer what would run where. */
  dryRun?: boolean;
}

/** A DryRun's answer: the nodes the request would run on, and which of them are offline. */
export interface DryRunResult {
  dryRun: true;
  nodeCount: number;
  offlineNodeIds: string[];
}

interface TokenDigests {
  token: string;
  request: string;
}

/** 409 unless the request is the one the ClientToken was first used with. */
function assertSameRequest(first: { requestDigest: string }, digests: TokenDigests): void {
  if (first.requestDigest !== digests.request) {
    throw new AppError(
      'IdempotentParameterMismatch',
      'ClientToken: was already used with a different request',
    );
  }
}

/**
 * The answer to a retry of a ClientToken request whose invocation exists: its InvokeId, once
 * its jobs are enqueued (a retry after a 503 completes what the first left undone). Undefined
 * when the token is new, or was claimed by a request that failed before writing anything.
 */
async function retried(
  digests: TokenDigests,
  deps: ActionDeps,
): Promise<{ invokeId: string; created: boolean } | undefined> {
  const first = await deps.invocations.clientToken(digests.token);
  if (!first) return undefined;
  assertSameRequest(first, digests);
  const inv = await deps.invocations.get(first.invokeId);
  if (!inv) return undefined;
  return { invokeId: inv.invokeId, created: await createInvocation(inv, deps) };
}

/**
 * Validates and creates an invocation. Answers its id, and whether this call created it (false
 * for a retry of a ClientToken request that had created it already). A retry is answered before
 * anything else is read or checked.
 */
export async function submitInvocation(
  sub: Submission,
  deps: ActionDeps,
): Promise<{ invokeId: string; created: boolean } | DryRunResult> {
  // A DryRun neither claims nor reads a ClientToken: it records nothing to retry.
  const digests =
    sub.clientToken === undefined || sub.clientToken === '' || sub.dryRun === true
      ? undefined
      : { token: sha256(sub.clientToken), request: sha256(canonicalJson(sub.request)) };
  const retry = digests && (await retried(digests, deps));
  if (retry) return retry;

  const req = await sub.resolve();
  const { repeatMode, frequency } = schedule(req.frequency, req.repeatMode, deps);
  const parameters = Object.fromEntries(
    Object.entries(req.parameters).map(([k, v]) => [k, String(v)]),
  );
  const invokeId = newId('t-');
  if (req.enableParameter) checkSubstitution(req, parameters, invokeId);
  const limits = rolloutLimits(req, repeatMode);
  await assertRegistered(deps, req.nodeIds);
  const inv: Invocation = {
    invokeId,
    commandId: req.commandId,
    name: req.name,
    description: req.description,
    content: req.content,
    nodeIds: req.nodeIds,
    frequency,
    repeatMode,
    timeoutSeconds: req.timeoutSeconds,
    username: req.username,
    workingDir: req.workingDir,
    parameters,
    enableParameter: req.enableParameter,
    terminationMode: req.terminationMode,
    launcher: req.launcher,
    createdMs: deps.clock(),
    ...limits,
  };
  if (sub.dryRun === true) {
    const offlineNodeIds = await offlineNodes(inv.nodeIds, deps);
    return { dryRun: true, nodeCount: inv.nodeIds.length, offlineNodeIds };
  }
  if (!digests) {
    await createOrDiscard(inv, deps);
    return { invokeId, created: true };
  }
  const first = await deps.invocations.claimClientToken(
    digests.token,
    digests.request,
    inv.invokeId,
    CLIENT_TOKEN_TTL_SECONDS,
  );
  if (first) assertSameRequest(first, digests);
  // The first request with this token, or a concurrent or failed-early twin of it: either way
  // make sure the invocation exists and is enqueued (each step is idempotent).
  const id = first?.invokeId ?? inv.invokeId;
  const created = await createInvocation({ ...inv, invokeId: id }, deps);
  return { invokeId: id, created };
}

/**
 * MaxConcurrency and MaxErrors, checked (400 naming the field): only on a one-off or Period
 * invocation; absent when not given, so an invocation without them is stored as before.
 */
function rolloutLimits(
  req: InvocationRequest,
  repeatMode: RepeatMode,
): { maxConcurrency?: string; maxErrors?: string } {
  const out: { maxConcurrency?: string; maxErrors?: string } = {};
  const fields = [
    ['MaxConcurrency', 'maxConcurrency', req.maxConcurrency ?? '', 1],
    ['MaxErrors', 'maxErrors', req.maxErrors ?? '', 0],
  ] as const;
  for (const [field, key, text, min] of fields) {
    if (text === '') continue;
    if (repeatMode !== 'Once' && repeatMode !== 'Period') {
      throw new AppError(
        `InvalidParameter.${field}`,
        `${field}: applies to Once and Period invocations only, not ${repeatMode}`,
      );
    }
    try {
      parseLimit(text, min);
    } catch (err) {
      if (err instanceof LimitError) {
        throw new AppError(`InvalidParameter.${field}`, `${field}: ${err.message}`);
      }
      throw err;
    }
    out[key] = text;
  }
  return out;
}

/**
 * Refuses a parameterised request whose template or values are bad, or whose content would
 * exceed the limit once substituted on the node with the longest id (the built-ins' values are
 * all known here), so such a request creates nothing.
 */
function checkSubstitution(
  req: InvocationRequest,
  parameters: Record<string, string>,
  invokeId: string,
): void {
  const nodeId = req.nodeIds.reduce((a, b) =>
    Buffer.byteLength(b) > Buffer.byteLength(a) ? b : a,
  );
  const longest = withParameterErrors(() => {
    checkValues(parameters);
    return substitute(req.content, parameters, { invokeId, nodeId, commandId: req.commandId });
  });
  checkContentLength(longest, COMMAND_CONTENT, ' after parameter substitution');
}
