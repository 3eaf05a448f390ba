import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import type { RedisClient } from './redis.js';
import type { InvocationKind } from '../domain/invocation.js';
import { SCRIPT_REPLIES, type ScriptName, type ScriptReply } from '../domain/run-replies.js';
import type { Keys } from './keys.js';

/** Invocations and run records are kept this long unless configured otherwise: 28 days. */
export const DEFAULT_RETENTION_MS = 28 * 24 * 3600 * 1000;

/** One script: its file under lua/ (named `<name>-<number of keys>.lua`) and its KEYS. */
interface ScriptSpec {
  file: string;
  /** The script's KEYS, in order, from the ids that locate them. */
  keys: (k: Keys, ...ids: never[]) => string[];
  /** Its reply is bytes (Buffers), not text: what it reads is a node's and may be any bytes. */
  binary?: true;
}

const run = (k: Keys, nodeId: string, invokeId: string) => [k.nodeRun(nodeId, invokeId)];
const runActiveEvents = (k: Keys, nodeId: string, invokeId: string) => [
  k.nodeRun(nodeId, invokeId),
  k.nodeActive(nodeId),
  k.nodeEvents(nodeId),
];
const runActiveStats = (k: Keys, nodeId: string, invokeId: string) => [
  k.nodeRun(nodeId, invokeId),
  k.nodeActive(nodeId),
  k.nodeStats(nodeId),
];
const runActiveStatsEvents = (k: Keys, nodeId: string, invokeId: string) => [
  ...runActiveStats(k, nodeId, invokeId),
  k.nodeEvents(nodeId),
];
const nodeInfo = (k: Keys, nodeId: string) => [k.nodeInfo(nodeId)];
const nodeInfoEvents = (k: Keys, nodeId: string) => [k.nodeInfo(nodeId), k.nodeEvents(nodeId)];
const command = (k: Keys, commandId: string) => [k.command(commandId)];
const activation = (k: Keys, activationId: string) => [
  k.activation(activationId),
  k.activationNodes(activationId),
];

/**
 * Every Lua script, by the name its reply parser has in domain/run-replies.ts. Each touches the
 * keys of one hash slot (a node's, an invocation's, a command's or `{global}`), and each run
 * script is a compare-and-set on the record's `status`, which is what makes a run at-most-once
 * (see run-claim-3.lua). A periodic record (Period, NextRebootOnly, EveryReboot) describes its
 * latest run; `fire` names the fire that run belongs to and `timed` is '1' while the schedule
 * may fire again.
 */
export const SCRIPTS = {
  runCreate: {
    file: 'run-create-4.lua',
    keys: (k: Keys, nodeId: string, invokeId: string) => [
      k.nodeRun(nodeId, invokeId),
      k.nodeInfo(nodeId),
      k.nodeBoot(nodeId),
      k.nodeInvocations(nodeId),
    ],
  },
  runFire: {
    file: 'run-fire-3.lua',
    keys: (k: Keys, nodeId: string, invokeId: string) => [
      k.nodeRun(nodeId, invokeId),
      k.nodeInfo(nodeId),
      k.nodeEvents(nodeId),
    ],
  },
  runClaim: { file: 'run-claim-3.lua', keys: runActiveEvents },
  runSpawned: { file: 'run-spawned-3.lua', keys: runActiveEvents },
  runProgress: { file: 'run-progress-1.lua', keys: run },
  runFinish: { file: 'run-finish-4.lua', keys: runActiveStatsEvents },
  runStop: {
    file: 'run-stop-4.lua',
    keys: (k: Keys, nodeId: string, invokeId: string) => [
      k.nodeRun(nodeId, invokeId),
      k.nodeBoot(nodeId),
      k.nodeStats(nodeId),
      k.nodeEvents(nodeId),
    ],
  },
  runAbort: {
    file: 'run-abort-3.lua',
    keys: (k: Keys, nodeId: string, invokeId: string) => [
      k.nodeRun(nodeId, invokeId),
      k.nodeStats(nodeId),
      k.nodeEvents(nodeId),
    ],
  },
  runInterrupt: { file: 'run-interrupt-4.lua', keys: runActiveStatsEvents },
  runLost: {
    file: 'run-lost-5.lua',
    keys: (k: Keys, nodeId: string, invokeId: string) => [
      ...runActiveStats(k, nodeId, invokeId),
      k.nodeInfo(nodeId),
      k.nodeEvents(nodeId),
    ],
  },
  invCreate: {
    file: 'inv-create-5.lua',
    keys: (k: Keys, invokeId: string, attempt: string) => [
      k.invocation(invokeId),
      k.invocationNodesDraft(invokeId, attempt),
      k.invocationNodes(invokeId),
      k.invocationTargetsDraft(invokeId, attempt),
      k.invocationTargets(invokeId),
    ],
  },
  invFold: {
    file: 'inv-fold-6.lua',
    keys: (k: Keys, invokeId: string, fire: string) => [
      k.invocation(invokeId),
      k.invocationGroups(invokeId),
      k.invocationFolded(invokeId, fire),
      k.rolloutState(invokeId, fire),
      k.rolloutActive(invokeId, fire),
      k.invocationTargets(invokeId),
    ],
  },
  roInit: {
    file: 'ro-init-2.lua',
    keys: (k: Keys, invokeId: string, fire: string) => [
      k.rolloutState(invokeId, fire),
      k.rolloutQueue(invokeId, fire),
    ],
  },
  roStep: {
    file: 'ro-step-4.lua',
    keys: (k: Keys, invokeId: string, fire: string) => [
      k.rolloutState(invokeId, fire),
      k.rolloutQueue(invokeId, fire),
      k.rolloutActive(invokeId, fire),
      k.invocationFolded(invokeId, fire),
    ],
  },
  invPublish: {
    file: 'inv-publish-3.lua',
    keys: (k: Keys, kind: InvocationKind) => [
      k.indexOf(kind),
      k.undispatchedInvocations(),
      k.timedInvocations(),
    ],
  },
  nodeIndexAdd: {
    file: 'node-index-add-1.lua',
    keys: (k: Keys, nodeId: string) => [k.nodeInvocations(nodeId)],
  },
  cmdCreate: { file: 'cmd-create-1.lua', keys: command },
  cmdModify: { file: 'cmd-modify-1.lua', keys: command },
  cmdInvoked: { file: 'cmd-invoked-1.lua', keys: command },
  nodeRegister: { file: 'node-register-2.lua', keys: nodeInfoEvents },
  nodeHeartbeat: { file: 'node-heartbeat-1.lua', keys: nodeInfo },
  nodeStopped: { file: 'node-stopped-2.lua', keys: nodeInfoEvents },
  nodeLost: { file: 'node-lost-2.lua', keys: nodeInfoEvents },
  auditAppend: { file: 'audit-append-1.lua', keys: (k: Keys) => [k.auditLog()] },
  nodeTags: { file: 'node-tags-1.lua', keys: (k: Keys) => [k.taggedNodes()] },
  evCreated: {
    file: 'ev-created-2.lua',
    keys: (k: Keys, invokeId: string) => [k.events(), k.invocationEvents(invokeId)],
  },
  evFinished: {
    file: 'ev-finished-4.lua',
    keys: (k: Keys, invokeId: string) => [
      k.events(),
      k.invocationEvents(invokeId),
      k.eventRelay(),
      k.finishingInvocations(),
    ],
  },
  evRelay: {
    file: 'ev-relay-3.lua',
    keys: (k: Keys) => [k.events(), k.eventRelay(), k.invocationEvents('')],
  },
  whCreate: {
    file: 'wh-create-4.lua',
    keys: (k: Keys, webhookId: string) => [
      k.webhooks(),
      k.webhook(webhookId),
      k.webhookCursor(),
      k.events(),
    ],
  },
  whDelete: {
    file: 'wh-delete-5.lua',
    keys: (k: Keys, webhookId: string) => [
      k.webhooks(),
      k.webhook(webhookId),
      k.webhookCursor(),
      k.webhookBacklog(webhookId),
      k.webhookLog(webhookId),
    ],
  },
  whFanout: {
    file: 'wh-fanout-2.lua',
    keys: (k: Keys) => [k.webhooks(), k.webhookCursor()],
  },
  actReserve: { file: 'act-reserve-2.lua', keys: activation },
  actRelease: { file: 'act-release-2.lua', keys: activation },
  actDelete: { file: 'act-delete-2.lua', keys: activation },
  actDisable: {
    file: 'act-disable-1.lua',
    keys: (k: Keys, activationId: string) => [k.activation(activationId)],
  },
  dlLease: { file: 'dl-lease-1.lua', keys: (k: Keys) => [k.deliveryDeadlines()] },
  // Capped reads of keys a node's agent may write (see RunStore, NodeStore): called with the key.
  hashRead: { file: 'hash-read-1.lua', keys: (_k: Keys, key: string) => [key], binary: true },
  listRead: { file: 'list-read-1.lua', keys: (_k: Keys, key: string) => [key], binary: true },
} as const satisfies Record<ScriptName, ScriptSpec>;

/** The helpers every script is sent with (NOW, newRun, settle, indexOnNode). */
export const PRELUDE_FILE = 'includes/prelude.lua';

/** The ids that locate a script's keys (a node and an invocation, a command, ...). */
export type ScriptKeyIds<K extends ScriptName> = (typeof SCRIPTS)[K]['keys'] extends (
  k: Keys,
  ...ids: infer A
) => string[]
  ? A
  : never;

type ScriptArg = string | number | Buffer;

/**
 * ioredis's Buffer-reply variants of EVALSHA and EVAL, which its typings leave out (its
 * `callBuffer` sends the wrong command under auto-pipelining).
 */
interface BinaryEval {
  evalshaBuffer(sha: string, numberOfKeys: number, ...args: ScriptArg[]): Promise<unknown>;
  evalBuffer(lua: string, numberOfKeys: number, ...args: ScriptArg[]): Promise<unknown>;
}

/** A script call: the ids its keys are built from, then its ARGV; answers the parsed reply. */
export type Scripts = {
  [K in ScriptName]: (ids: ScriptKeyIds<K>, ...argv: ScriptArg[]) => Promise<ScriptReply<K>>;
};

export interface LoadedScript {
  name: ScriptName;
  file: string;
  numberOfKeys: number;
  /** The file as written (header included). */
  source: string;
  /** What is sent to Redis: the prelude, then the file. */
  lua: string;
  sha: string;
}

/**
 * The agent's bundle carries the scripts in itself, keyed by file name (scripts/bundle-agent.mjs
 * defines this as the JSON text of that map): an agent reads no file to load them.
 */
declare const FLEETCMD_BUNDLED_LUA: string | undefined;

/**
 * How a script's text is read: from the bundle's own copy, or from the .lua files beside this
 * module under src/. `tsc` copies none into dist/, so the build script does; a dist/ built by
 * `tsc` alone (npm's `prepare`) reads the source tree's. Neither there: an error naming both.
 */
function luaReader(): (file: string) => string {
  if (typeof FLEETCMD_BUNDLED_LUA === 'string') {
    const files = JSON.parse(FLEETCMD_BUNDLED_LUA) as Record<string, string>;
    return (file) => {
      const text = files[file];
      if (text === undefined) throw new Error(`${file}: not in the agent's bundle (npm run build)`);
      return text;
    };
  }
  const tried = [
    new URL('./lua/', import.meta.url),
    new URL('../../../src/store/lua/', import.meta.url),
  ];
  const dir = tried.find((d) => existsSync(d));
  if (dir === undefined) {
    throw new Error(
      `the Redis scripts are missing: no ${tried.map((d) => d.pathname).join(' nor ')}`,
    );
  }
  return (file) => readFileSync(new URL(file, dir), 'utf8');
}

let loaded: readonly LoadedScript[] | undefined;

/** The prelude's reading of Redis's clock: one TIME call, which every script call paid. */
const CLOCK_LINES = /^local t = redis\.call\('TIME'\)\nlocal NOW = string\.format\([^\n]*\)\n/m;
/**
 * What in a script's body needs the clock: NOW, `t`, or the prelude helpers that read them
 * (newRun, indexOnNode).
 */
const USES_CLOCK = /\bNOW\b|\bt\[|\bnewRun\(|\bindexOnNode\(/;

/**
 * The prelude as one script needs it: a script whose body never reads the clock is sent
 * without the TIME call (one Redis command fewer per call: the event relay, output groups,
 * listings, capped reads, deadline leases); `t` and `NOW` are then nil, so a helper that
 * needs them fails loudly rather than stamping a wrong time.
 */
export function preludeFor(prelude: string, source: string): string {
  if (!CLOCK_LINES.test(prelude)) throw new Error(`${PRELUDE_FILE}: its TIME lines moved`);
  const body = source.slice(source.indexOf(']]') + 2);
  return USES_CLOCK.test(body)
    ? prelude
    : prelude.replace(CLOCK_LINES, 'local t, NOW = nil, nil\n');
}

/** Reads every script once per process. */
export function loadScripts(): readonly LoadedScript[] {
  if (loaded) return loaded;
  const read = luaReader();
  const prelude = read(PRELUDE_FILE);
  loaded = (Object.keys(SCRIPTS) as ScriptName[]).map((name) => {
    const { file } = SCRIPTS[name];
    const count = /-(\d+)\.lua$/.exec(file)?.[1];
    if (count === undefined) throw new Error(`${file}: the name must end in -<keys>.lua`);
    const source = read(file);
    const lua = preludeFor(prelude, source) + source;
    const sha = createHash('sha1').update(lua).digest('hex');
    return { name, file, numberOfKeys: Number(count), source, lua, sha };
  });
  return loaded;
}

/**
 * The scripts, called on `client` with keys from `keys`. Each call is an EVALSHA, and an EVAL
 * (which loads it) when Redis answers NOSCRIPT (a Redis, or a Cluster shard, that has not seen
 * it since it started). Not ioredis's defineCommand: ioredis copies every defined command into
 * each pipeline it makes, which with auto-pipelining is once per tick (~10 µs without them,
 * ~80 µs with these, ~160 µs with BullMQ's too, measured here).
 */
export function makeScripts(client: RedisClient, keys: Keys): Scripts {
  const out: Partial<Record<ScriptName, unknown>> = {};
  for (const s of loadScripts()) {
    const build = SCRIPTS[s.name].keys as (k: Keys, ...ids: unknown[]) => string[];
    const parse = SCRIPT_REPLIES[s.name] as (script: string, raw: unknown) => unknown;
    const binary = (SCRIPTS[s.name] as ScriptSpec).binary === true;
    out[s.name] = async (ids: unknown[], ...argv: ScriptArg[]): Promise<unknown> => {
      const args = [...build(keys, ...ids), ...argv];
      let raw: unknown;
      try {
        raw = binary
          ? await (client as unknown as BinaryEval).evalshaBuffer(s.sha, s.numberOfKeys, ...args)
          : await client.evalsha(s.sha, s.numberOfKeys, ...args);
      } catch (err) {
        if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
        raw = binary
          ? await (client as unknown as BinaryEval).evalBuffer(s.lua, s.numberOfKeys, ...args)
          : await client.eval(s.lua, s.numberOfKeys, ...args);
      }
      return parse(s.file, raw);
    };
  }
  return out as Scripts;
}

/** Redis's clock in ms: what every stored time is measured against. */
export async function redisNowMs(client: RedisClient): Promise<number> {
  const [sec, usec] = await client.time();
  return Number(sec) * 1000 + Math.floor(Number(usec) / 1000);
}
