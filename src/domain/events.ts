import { aggregateStatus, FINAL_NODE_STATUSES, type NodeStatus } from './status.js';

/**
 * Lifecycle events (docs/events.md): their types, the shape they are served in, and the rules
 * for the events a node's outbox holds (which its agent may write, so they are checked and
 * given their NodeId from the outbox's key, never from their payload).
 */

/** Events of one node, appended to its outbox by the scripts that make each change. */
export const NODE_EVENT_TYPES = [
  'RunStarted',
  'RunFinished',
  'FireSkipped',
  'NodeOnline',
  'NodeOffline',
] as const;

export const EVENT_TYPES = [
  'InvocationCreated',
  ...NODE_EVENT_TYPES,
  'InvocationFinished',
] as const;

export type EventType = (typeof EVENT_TYPES)[number];

export function isEventType(s: string): s is EventType {
  return (EVENT_TYPES as readonly string[]).includes(s);
}

/** One entry of the event stream: its id (the EventId), type, time (ms) and Data (JSON). */
export interface StoredEvent {
  id: string;
  type: string;
  timeMs: number;
  data: string;
}

/** `{"EventId","EventType","Time","Data"}`: what GET /v1/events and webhooks carry. */
export function eventJson(e: StoredEvent): string {
  const head = JSON.stringify({
    EventId: e.id,
    EventType: e.type,
    Time: new Date(e.timeMs).toISOString(),
  });
  return `${head.slice(0, -1)},"Data":${e.data}}`;
}

/** One server-sent event: `id:`, `event:` and `data:` lines, then a blank line. */
export function sseFrame(e: StoredEvent): string {
  return `id: ${e.id}\nevent: ${e.type}\ndata: ${eventJson(e)}\n\n`;
}

/** Whether stream id `a` comes before `b` (ids are `<ms>-<seq>`). */
export function idBefore(a: string, b: string): boolean {
  const [am = 0, as = 0] = a.split('-').map(Number);
  const [bm = 0, bs = 0] = b.split('-').map(Number);
  return am < bm || (am === bm && as < bs);
}

export const EVENT_ID_RE = /^\d{1,20}-\d{1,20}$/;

/**
 * Each final run status and what an invocation whose runs all ended so is (Success, Failed or
 * Stopped), for ev-relay-3.lua's InvocationFinished: `status=class,...`.
 */
export const STATUS_CLASSES: string = [...FINAL_NODE_STATUSES]
  .map((s) => `${s}=${aggregateStatus([s])}`)
  .join(',');

/** The most bytes of an outbox event's Data relayed; a larger one is dropped. */
export const MAX_OUTBOX_DATA_BYTES = 4096;

/**
 * A run's end as its RunFinished event tells it: what the output groups and the rollouts count
 * (src/app/rollout.ts). Texts as stored ('' when the run has none).
 */
export interface RunEnd {
  invokeId: string;
  /** The fire it was the run of ('' for a one-off run). */
  fire: string;
  status: NodeStatus;
  exitCode: string;
  /** sha256 (hex) of the output, computed by the agent ('' when the command never ran). */
  digest: string;
}

/** An outbox event fit to relay. */
export interface RelayedEvent {
  type: EventType;
  /** Data as JSON, NodeId first. */
  data: string;
  invokeId: string;
  /** The final status of a run that ended ('' for other events). */
  finalStatus: string;
  /** A RunFinished's run, for the output groups and rollouts. */
  runEnd?: RunEnd;
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

/**
 * An event read from node `nodeId`'s outbox, checked: a known node event type, Data a JSON
 * object within MAX_OUTBOX_DATA_BYTES, a RunFinished's status final. Undefined for anything
 * else (dropped).
 */
export function outboxEvent(nodeId: string, type: string, raw: string): RelayedEvent | undefined {
  if (!(NODE_EVENT_TYPES as readonly string[]).includes(type)) return undefined;
  if (raw.length > MAX_OUTBOX_DATA_BYTES) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return undefined;
  }
  // cjson encodes an empty table as {} (NodeOffline's may be small, never an array).
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
  const fields = parsed as Record<string, unknown>;
  const invokeId = str(fields.InvokeId);
  let finalStatus = '';
  let runEnd: RunEnd | undefined;
  const data: Record<string, unknown> = { NodeId: nodeId, ...fields };
  data.NodeId = nodeId;
  if (type === 'RunFinished') {
    finalStatus = str(fields.InvocationStatus);
    if (!FINAL_NODE_STATUSES.has(finalStatus as NodeStatus) || invokeId === '') return undefined;
    const exitCode = Number.isInteger(fields.ExitCode) ? (fields.ExitCode as number) : null;
    data.ExitCode = exitCode;
    data.OutputDigest = digestOf(fields.OutputDigest);
    runEnd = {
      invokeId,
      fire: str(fields.Fire),
      status: finalStatus as NodeStatus,
      exitCode: exitCode === null ? '' : String(exitCode),
      digest: digestOf(fields.OutputDigest),
    };
  }
  return {
    type: type as EventType,
    data: JSON.stringify(data),
    invokeId,
    finalStatus,
    ...(runEnd ? { runEnd } : {}),
  };
}

/** An output digest as a RunFinished carries it: 64 hex digits, or '' for anything else. */
function digestOf(v: unknown): string {
  return typeof v === 'string' && /^[0-9a-f]{64}$/.test(v) ? v : '';
}

/** What a reader of the stream asked for: some types only, one invocation only. */
export interface EventFilter {
  types?: ReadonlySet<string>;
  invokeId?: string;
}

export function eventMatches(filter: EventFilter, e: StoredEvent): boolean {
  if (filter.types && !filter.types.has(e.type)) return false;
  if (filter.invokeId === undefined) return true;
  try {
    const data = JSON.parse(e.data) as { InvokeId?: unknown };
    return data.InvokeId === filter.invokeId;
  } catch {
    return false;
  }
}
