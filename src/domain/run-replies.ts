import { Buffer } from 'node:buffer';
import { NODE_STATUSES, type NodeStatus } from './status.js';

/**
 * What each Lua script (src/store/lua/*.lua) answers, as typed values. Every reply is parsed
 * here and nowhere else: the Output section of a script's header and its parser below describe
 * the same replies, and a reply outside them is an error naming the script (a script and its
 * caller out of step), never a string some caller takes apart.
 */

/** A script answered something its header does not list. */
export class ScriptReplyError extends Error {
  constructor(
    readonly script: string,
    readonly reply: unknown,
  ) {
    super(`Lua script ${script} gave an unexpected reply: ${show(reply)}`);
    this.name = 'ScriptReplyError';
  }
}

function show(reply: unknown): string {
  return JSON.stringify(reply) ?? String(reply);
}

/** Parses one script's raw reply; `script` names it in the error. */
type ReplyParser<T> = (script: string, raw: unknown) => T;

/** A run record's status, or one of the script's own words. */
function statusOr<const E extends readonly string[]>(
  ...extras: E
): ReplyParser<NodeStatus | E[number]> {
  const allowed: ReadonlySet<string> = new Set([...NODE_STATUSES, ...extras]);
  return (script, raw) => {
    if (typeof raw === 'string' && allowed.has(raw)) return raw as NodeStatus | E[number];
    throw new ScriptReplyError(script, raw);
  };
}

function text(script: string, raw: unknown): string {
  if (typeof raw !== 'string') throw new ScriptReplyError(script, raw);
  return raw;
}

/** A time or count the script sends as a string of digits (NOW is '%.0f', not an integer). */
function digits(script: string, raw: unknown): number {
  if (typeof raw !== 'string' || !/^\d+$/.test(raw)) throw new ScriptReplyError(script, raw);
  return Number(raw);
}

/** A Lua number, which Redis sends as an integer reply. */
function integer(script: string, raw: unknown): number {
  if (typeof raw !== 'number' || !Number.isInteger(raw)) throw new ScriptReplyError(script, raw);
  return raw;
}

function flag(yes: unknown, no: unknown): ReplyParser<boolean> {
  return (script, raw) => {
    if (raw === yes) return true;
    if (raw === no) return false;
    throw new ScriptReplyError(script, raw);
  };
}

/** One of the script's own words. */
function word<const W extends readonly string[]>(...words: W): ReplyParser<W[number]> {
  const allowed: ReadonlySet<string> = new Set(words);
  return (script, raw) => {
    if (typeof raw === 'string' && allowed.has(raw)) return raw as W[number];
    throw new ScriptReplyError(script, raw);
  };
}

const FIRE_WORDS: ReadonlySet<string> = new Set([
  'Fired',
  'Already',
  'Skipped',
  'Ended',
  'Stale',
  'Missing',
  'Busy',
]);
const WAITING = 'Waiting ';
/** Ends the reply when the record counted the fire job's own, passed-over slot as skipped. */
const COUNTED_PASSED_OVER = ' passedOver';

/** One fire on one node (run-fire-3.lua). */
export type FireReply = (
  | { outcome: 'Fired' | 'Already' | 'Skipped' | 'Ended' | 'Stale' | 'Missing' }
  /** A delivery ahead of the slot found the previous run not ended: decided at the slot. */
  | { outcome: 'Busy' }
  /** The run of an older fire (`olderFire`) has not started: enqueue its job again. */
  | { outcome: 'Waiting'; olderFire: string }
) & {
  /**
   * This call counted the fire job's own slot, passed over for this fire, as skipped on the
   * record (only with 'Fired', 'Waiting' or 'Skipped'); absent when it did not.
   */
  countedPassedOver?: true;
};

function fireReply(script: string, raw: unknown): FireReply {
  if (typeof raw !== 'string') throw new ScriptReplyError(script, raw);
  const counted = raw.endsWith(COUNTED_PASSED_OVER);
  const word = counted ? raw.slice(0, -COUNTED_PASSED_OVER.length) : raw;
  const extra = counted ? { countedPassedOver: true as const } : {};
  if (word.startsWith(WAITING)) {
    return { outcome: 'Waiting', olderFire: word.slice(WAITING.length), ...extra };
  }
  if (FIRE_WORDS.has(word) && (!counted || word === 'Fired' || word === 'Skipped')) {
    return { outcome: word as Exclude<FireReply['outcome'], 'Waiting'>, ...extra };
  }
  throw new ScriptReplyError(script, raw);
}

/** A run on a lost node (run-lost-5.lua). */
export type LostReply =
  /** Ended now with this status. */
  | { outcome: 'Ended'; status: 'Error' | 'Terminated' }
  /** The node was heard from since it was judged lost. */
  | { outcome: 'Alive' }
  /** Left as found ('Missing': no record). */
  | { outcome: 'Left'; status: NodeStatus | 'Missing' };

const leftStatus = statusOr('Missing');

function lostReply(script: string, raw: unknown): LostReply {
  if (raw === 'Ended Error') return { outcome: 'Ended', status: 'Error' };
  if (raw === 'Ended Terminated') return { outcome: 'Ended', status: 'Terminated' };
  if (raw === 'Alive') return { outcome: 'Alive' };
  return { outcome: 'Left', status: leftStatus(script, raw) };
}

/** An invocation's hash written now or found (inv-create-1.lua). */
export interface CreateInvocationReply {
  created: boolean;
  /** The stored creation time (0 when a found hash has none). */
  createdMs: number;
}

function createInvocationReply(script: string, raw: unknown): CreateInvocationReply {
  const m = typeof raw === 'string' ? /^([01]) (\d+)$/.exec(raw) : null;
  if (!m) throw new ScriptReplyError(script, raw);
  return { created: m[1] === '1', createdMs: Number(m[2]) };
}

/** Events copied from a node's outbox (ev-relay-3.lua). */
export interface RelayReply {
  /** Copied now (the others had been before). */
  copied: number;
  /** InvocationFinished events they completed. */
  finished: number;
}

function relayReply(script: string, raw: unknown): RelayReply {
  const m = typeof raw === 'string' ? /^(\d+) (\d+)$/.exec(raw) : null;
  if (!m) throw new ScriptReplyError(script, raw);
  return { copied: Number(m[1]), finished: Number(m[2]) };
}

/** A capped read's values (hash-read-1.lua, list-read-1.lua): bytes, nil, or a length. */
export type CappedValues = (Buffer | number | undefined)[];

function cappedValues(script: string, raw: unknown): CappedValues {
  if (!Array.isArray(raw)) throw new ScriptReplyError(script, raw);
  return raw.map((v: unknown) => {
    if (v === null) return undefined;
    if (Buffer.isBuffer(v) || (typeof v === 'number' && Number.isSafeInteger(v))) return v;
    throw new ScriptReplyError(script, raw);
  });
}

function strings(script: string, raw: unknown): string[] {
  if (!Array.isArray(raw) || !raw.every((v) => typeof v === 'string')) {
    throw new ScriptReplyError(script, raw);
  }
  return raw as string[];
}

/** One step of a fire's rollout (ro-step-4.lua). */
export type RolloutStepReply =
  { kind: 'None' } | { kind: 'Release' | 'Cancel'; from: number; done: boolean; nodeIds: string[] };

function rolloutStepReply(script: string, raw: unknown): RolloutStepReply {
  if (!Array.isArray(raw) || raw.length === 0) throw new ScriptReplyError(script, raw);
  const [kind, from, done, ...ids] = raw as unknown[];
  if (kind === 'None' && raw.length === 1) return { kind };
  if (
    (kind !== 'Release' && kind !== 'Cancel') ||
    typeof from !== 'number' ||
    (done !== 0 && done !== 1) ||
    !ids.every((id) => typeof id === 'string')
  ) {
    throw new ScriptReplyError(script, raw);
  }
  return { kind, from, done: done === 1, nodeIds: ids as string[] };
}

function oneOf<const W extends readonly string[]>(...words: W): ReplyParser<W[number]> {
  const allowed: ReadonlySet<string> = new Set(words);
  return (script, raw) => {
    if (typeof raw === 'string' && allowed.has(raw)) return raw as W[number];
    throw new ScriptReplyError(script, raw);
  };
}

/**
 * The parser of each script's reply, by script name (the registry in src/store/scripts.ts maps
 * the same names to their files and keys).
 */
export const SCRIPT_REPLIES = {
  /** 'Created', or the status of the record that existed. */
  runCreate: statusOr('Created'),
  runFire: fireReply,
  /** 'Claimed' only for the claim that may start the command. */
  runClaim: statusOr('Claimed', 'Superseded', 'Missing', 'Armed'),
  /** The status after the start was recorded ('Other': the record holds another claim). */
  runSpawned: statusOr('Other', 'Missing'),
  runProgress: statusOr('Missing'),
  runFinish: statusOr('Missing'),
  runStop: statusOr(),
  runAbort: statusOr('Superseded'),
  runInterrupt: statusOr('Mine', 'Missing'),
  runLost: lostReply,
  invCreate: createInvocationReply,
  invFold: oneOf('Unknown', 'Already', 'Folded', 'Rollout'),
  /** Whether the group was added now (false: a retry found it added). */
  roInit: flag(1, 0),
  roStep: rolloutStepReply,
  /** How many old index entries were checked. */
  invPublish: integer,
  nodeIndexAdd: integer,
  /** The command's createdMs. */
  cmdCreate: digits,
  /** Whether the command exists. */
  cmdModify: flag('1', '0'),
  /** invokeTimes after this invocation; 0 when the command is gone. */
  cmdInvoked: digits,
  /** The boot id recorded before ('' on first start). */
  nodeRegister: text,
  /** Redis's clock (ms) at the heartbeat. */
  nodeHeartbeat: digits,
  nodeStopped: digits,
  /** Whether NodeOffline (lost) was announced now. */
  nodeLost: flag('1', '0'),
  /** The event's stream id; '' when announced before. */
  evCreated: text,
  evRelay: relayReply,
  /** The InvocationFinished event's stream id; '' when announced before; 'wait': not yet. */
  evFinished: text,
  /** The appended audit event's stream id. */
  auditAppend: text,
  /** Tags the node carries after the change; -1: too many, nothing changed. */
  nodeTags: integer,
  whCreate: word('Created', 'Full'),
  /** Whether the webhook existed. */
  whDelete: flag(1, 0),
  /** '!' when another replica copied the batch; else the webhooks that got events, comma-separated. */
  whFanout: text,
  actReserve: word('Reserved', 'Missing', 'Disabled', 'Expired', 'Full', 'Already'),
  /** Whether the node held a place on the activation. */
  actRelease: flag(1, 0),
  actDelete: word('Deleted', 'Missing', 'InUse'),
  /** Whether the activation exists. */
  actDisable: flag(1, 0),
  /** The delivery deadlines leased (members of the deadline set). */
  dlLease: strings,
  /** Binary replies (see BINARY_SCRIPTS in src/store/scripts.ts). */
  hashRead: cappedValues,
  listRead: cappedValues,
} as const satisfies Record<string, ReplyParser<unknown>>;

export type ScriptName = keyof typeof SCRIPT_REPLIES;

/** The typed reply of a script. */
export type ScriptReply<K extends ScriptName> = ReturnType<(typeof SCRIPT_REPLIES)[K]>;
