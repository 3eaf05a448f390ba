import type { Redis } from 'ioredis';

/**
 * Every script starts with NOW: Redis's own clock in ms (TIME). All stored times come from it,
 * so an agent or server whose clock is off neither shows a node offline nor stamps a run
 * before its invocation.
 */
const PRELUDE = `local t = redis.call('TIME')
local NOW = string.format('%.0f', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
-- A run record's first fields, kept for retentionMs; every script that creates one uses this.
local function newRun(key, retentionMs)
  redis.call('HSET', key, 'createdMs', NOW, 'updatedMs', NOW, 'repeats', 0, 'dropped', 0)
  redis.call('PEXPIRE', key, retentionMs)
end
`;

/**
 * Lua scripts for every run-record transition. Each touches keys of one node only (one hash
 * slot), and each is a compare-and-set on `status`, which is what makes a run at-most-once:
 * the agent may start a command only when `claim` answers 'Claimed' (it moved the record from
 * Pending to Running just now, for this very claim), and a stop, a delivery timeout or a second
 * delivery of the same job all lose that race cleanly instead of running the command twice.
 */
const SCRIPTS = {
  // KEYS: run, nodeInfo. ARGV: retentionMs. Creates a Pending record unless one exists.
  fcRunCreate: {
    keys: 2,
    lua: `
local st = redis.call('HGET', KEYS[1], 'status')
if st then return st end
newRun(KEYS[1], ARGV[1])
redis.call('HSET', KEYS[1], 'status', 'Pending')
redis.call('HINCRBY', KEYS[2], 'invocationCount', 1)
redis.call('HSET', KEYS[2], 'lastInvokedMs', NOW)
return 'Created'`,
  },
  // KEYS: run, active. ARGV: invokeId, agentInstance, claimNonce, bootId.
  // 'Claimed' only for the claim that moved Pending -> Running (or a resend of that same claim
  // after a reconnect, recognised by its nonce); anything else answers the current status.
  fcRunClaim: {
    keys: 2,
    lua: `
local st = redis.call('HGET', KEYS[1], 'status')
if st == 'Running' and redis.call('HGET', KEYS[1], 'claim') == ARGV[3] then return 'Claimed' end
if st ~= 'Pending' then return st or 'Missing' end
redis.call('HSET', KEYS[1], 'status', 'Running', 'startedMs', NOW, 'updatedMs', NOW,
  'agent', ARGV[2], 'claim', ARGV[3], 'bootId', ARGV[4])
redis.call('HINCRBY', KEYS[1], 'repeats', 1)
redis.call('SADD', KEYS[2], ARGV[1])
return 'Claimed'`,
  },
  // KEYS: run. ARGV: agentInstance, pgid, scriptDir. Where the command runs, so a later life of
  // the agent can kill it if this one dies.
  fcRunSpawned: {
    keys: 1,
    lua: `
if redis.call('HGET', KEYS[1], 'agent') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'pgid', ARGV[2], 'scriptDir', ARGV[3])
return 1`,
  },
  // KEYS: run. ARGV: agentInstance, hasOutput ('1'/'0'), output, dropped.
  // Returns the current status so the agent learns of a stop even without pub/sub.
  fcRunProgress: {
    keys: 1,
    lua: `
local st = redis.call('HGET', KEYS[1], 'status')
if redis.call('HGET', KEYS[1], 'agent') ~= ARGV[1] then return st or 'Missing' end
if st ~= 'Running' and st ~= 'Stopping' then return st end
if ARGV[2] == '1' then
  redis.call('HSET', KEYS[1], 'output', ARGV[3], 'dropped', ARGV[4], 'updatedMs', NOW)
end
return st`,
  },
  // KEYS: run, active. ARGV: invokeId, agentInstance, status, exitCode ('' = none), errorCode,
  // errorInfo, output, dropped, started ('1' = the command was started).
  fcRunFinish: {
    keys: 2,
    lua: `
local st = redis.call('HGET', KEYS[1], 'status')
if redis.call('HGET', KEYS[1], 'agent') ~= ARGV[2] or (st ~= 'Running' and st ~= 'Stopping') then
  return st or 'Missing'
end
redis.call('HSET', KEYS[1], 'status', ARGV[3], 'finishedMs', NOW, 'updatedMs', NOW,
  'errorCode', ARGV[5], 'errorInfo', ARGV[6], 'output', ARGV[7], 'dropped', ARGV[8])
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'exitCode', ARGV[4]) end
if ARGV[9] ~= '1' then
  redis.call('HDEL', KEYS[1], 'startedMs')
  redis.call('HINCRBY', KEYS[1], 'repeats', -1)
end
redis.call('SREM', KEYS[2], ARGV[1])
return ARGV[3]`,
  },
  // KEYS: run. ARGV: retentionMs. Not started -> Cancelled; Running -> Stopping; else unchanged.
  fcRunStop: {
    keys: 1,
    lua: `
local st = redis.call('HGET', KEYS[1], 'status')
if not st or st == 'Pending' then
  if not st then newRun(KEYS[1], ARGV[1]) end
  redis.call('HSET', KEYS[1], 'status', 'Cancelled', 'stoppedMs', NOW, 'updatedMs', NOW,
    'finishedMs', NOW)
  return 'Cancelled'
end
if st == 'Running' then
  redis.call('HSET', KEYS[1], 'status', 'Stopping', 'stoppedMs', NOW, 'updatedMs', NOW)
  return 'Stopping'
end
return st`,
  },
  // KEYS: run. ARGV: retentionMs, errorCode, errorInfo. Not delivered in time -> Aborted.
  fcRunAbort: {
    keys: 1,
    lua: `
local st = redis.call('HGET', KEYS[1], 'status')
if st and st ~= 'Pending' then return st end
if not st then newRun(KEYS[1], ARGV[1]) end
redis.call('HSET', KEYS[1], 'status', 'Aborted', 'updatedMs', NOW, 'finishedMs', NOW,
  'errorCode', ARGV[2], 'errorInfo', ARGV[3])
return 'Aborted'`,
  },
  // KEYS: run, active. ARGV: invokeId, currentAgentInstance, errorCode, errorInfo.
  // A run left Running by an earlier life of the agent is never re-run: it becomes Error.
  fcRunInterrupt: {
    keys: 2,
    lua: `
local st = redis.call('HGET', KEYS[1], 'status')
if st and redis.call('HGET', KEYS[1], 'agent') == ARGV[2] then return 'Mine' end
if st == 'Running' then
  redis.call('HSET', KEYS[1], 'status', 'Error', 'finishedMs', NOW, 'updatedMs', NOW,
    'errorCode', ARGV[3], 'errorInfo', ARGV[4])
  redis.call('SREM', KEYS[2], ARGV[1])
  return 'Error'
end
if st == 'Stopping' then
  redis.call('HSET', KEYS[1], 'status', 'Terminated', 'finishedMs', NOW, 'updatedMs', NOW)
  redis.call('SREM', KEYS[2], ARGV[1])
  return 'Terminated'
end
redis.call('SREM', KEYS[2], ARGV[1])
return st or 'Missing'`,
  },
  // KEYS: invocation. ARGV: retentionMs, then field/value pairs. Writes the hash (createdMs =
  // NOW, kept for retentionMs) unless it exists; answers whether this call created it and the
  // stored createdMs ('1 <ms>' / '0 <ms>').
  fcInvCreate: {
    keys: 1,
    lua: `
if redis.call('EXISTS', KEYS[1]) == 1 then
  return '0 ' .. (redis.call('HGET', KEYS[1], 'createdMs') or '0')
end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('HSET', KEYS[1], 'createdMs', NOW)
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return '1 ' .. NOW`,
  },
  // KEYS: nodeInfo. ARGV: uptimeMs, then field/value pairs. Returns the previous boot id.
  fcNodeRegister: {
    keys: 1,
    lua: `
local prev = redis.call('HGET', KEYS[1], 'bootId') or ''
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('HSET', KEYS[1], 'registeredMs', NOW, 'lastHeartbeatMs', NOW,
  'bootTimeMs', string.format('%.0f', tonumber(NOW) - tonumber(ARGV[1])))
redis.call('HDEL', KEYS[1], 'stoppedMs')
return prev`,
  },
  // KEYS: nodeInfo.
  fcNodeHeartbeat: {
    keys: 1,
    lua: `redis.call('HSET', KEYS[1], 'lastHeartbeatMs', NOW)
return NOW`,
  },
  // KEYS: nodeInfo. A clean shutdown: offline at once.
  fcNodeStopped: {
    keys: 1,
    lua: `redis.call('HSET', KEYS[1], 'stoppedMs', NOW)
return NOW`,
  },
} as const;

/** Invocations and run records are kept this long unless configured otherwise: 28 days. */
export const DEFAULT_RETENTION_MS = 28 * 24 * 3600 * 1000;

type ScriptName = keyof typeof SCRIPTS;
type ScriptArg = string | number | Buffer;

export type ScriptedRedis = Redis & {
  [K in ScriptName]: (...args: ScriptArg[]) => Promise<string>;
};

/** Registers the scripts on a client once (ioredis uses EVALSHA and reloads on NOSCRIPT). */
export function withScripts(client: Redis): ScriptedRedis {
  const c = client as Redis & Record<string, unknown>;
  for (const [name, s] of Object.entries(SCRIPTS)) {
    if (typeof c[name] !== 'function') {
      client.defineCommand(name, { numberOfKeys: s.keys, lua: PRELUDE + s.lua });
    }
  }
  return client as ScriptedRedis;
}

/** Redis's clock in ms: what every stored time is measured against. */
export async function redisNowMs(client: Redis): Promise<number> {
  const [sec, usec] = await client.time();
  return Number(sec) * 1000 + Math.floor(Number(usec) / 1000);
}
