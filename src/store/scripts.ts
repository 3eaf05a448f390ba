import type { Redis } from 'ioredis';

/**
 * Lua scripts for every run-record transition. Each touches keys of one node only (one hash
 * slot), and each is a compare-and-set on `status`, which is what makes a run at-most-once:
 * the agent may start a command only when `claim` answers 'Claimed' (it moved the record from
 * Pending to Running just now, for this very claim), and a stop, a delivery timeout or a second
 * delivery of the same job all lose that race cleanly instead of running the command twice.
 */
const SCRIPTS = {
  // KEYS: run, nodeInfo. ARGV: nowMs. Creates a Pending record unless one exists.
  fcRunCreate: {
    keys: 2,
    lua: `
local st = redis.call('HGET', KEYS[1], 'status')
if st then return st end
redis.call('HSET', KEYS[1], 'status', 'Pending', 'createdMs', ARGV[1], 'updatedMs', ARGV[1],
  'repeats', 0, 'dropped', 0)
redis.call('HINCRBY', KEYS[2], 'invocationCount', 1)
redis.call('HSET', KEYS[2], 'lastInvokedMs', ARGV[1])
return 'Created'`,
  },
  // KEYS: run, active. ARGV: invokeId, agentInstance, nowMs, claimNonce, bootId.
  // 'Claimed' only for the claim that moved Pending -> Running (or a resend of that same claim
  // after a reconnect, recognised by its nonce); anything else answers the current status.
  fcRunClaim: {
    keys: 2,
    lua: `
local st = redis.call('HGET', KEYS[1], 'status')
if st == 'Running' and redis.call('HGET', KEYS[1], 'claim') == ARGV[4] then return 'Claimed' end
if st ~= 'Pending' then return st or 'Missing' end
redis.call('HSET', KEYS[1], 'status', 'Running', 'startedMs', ARGV[3], 'updatedMs', ARGV[3],
  'agent', ARGV[2], 'claim', ARGV[4], 'bootId', ARGV[5])
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
  // KEYS: run. ARGV: agentInstance, nowMs, hasOutput ('1'/'0'), output, dropped.
  // Returns the current status so the agent learns of a stop even without pub/sub.
  fcRunProgress: {
    keys: 1,
    lua: `
local st = redis.call('HGET', KEYS[1], 'status')
if redis.call('HGET', KEYS[1], 'agent') ~= ARGV[1] then return st or 'Missing' end
if st ~= 'Running' and st ~= 'Stopping' then return st end
if ARGV[3] == '1' then
  redis.call('HSET', KEYS[1], 'output', ARGV[4], 'dropped', ARGV[5], 'updatedMs', ARGV[2])
end
return st`,
  },
  // KEYS: run, active. ARGV: invokeId, agentInstance, nowMs, status, exitCode ('' = none),
  // errorCode, errorInfo, output, dropped, started ('1' = the command was started).
  fcRunFinish: {
    keys: 2,
    lua: `
local st = redis.call('HGET', KEYS[1], 'status')
if redis.call('HGET', KEYS[1], 'agent') ~= ARGV[2] or (st ~= 'Running' and st ~= 'Stopping') then
  return st or 'Missing'
end
redis.call('HSET', KEYS[1], 'status', ARGV[4], 'finishedMs', ARGV[3], 'updatedMs', ARGV[3],
  'errorCode', ARGV[6], 'errorInfo', ARGV[7], 'output', ARGV[8], 'dropped', ARGV[9])
if ARGV[5] ~= '' then redis.call('HSET', KEYS[1], 'exitCode', ARGV[5]) end
if ARGV[10] ~= '1' then
  redis.call('HDEL', KEYS[1], 'startedMs')
  redis.call('HINCRBY', KEYS[1], 'repeats', -1)
end
redis.call('SREM', KEYS[2], ARGV[1])
return ARGV[4]`,
  },
  // KEYS: run. ARGV: nowMs. Not started -> Cancelled; Running -> Stopping; else unchanged.
  fcRunStop: {
    keys: 1,
    lua: `
local st = redis.call('HGET', KEYS[1], 'status')
if not st or st == 'Pending' then
  if not st then
    redis.call('HSET', KEYS[1], 'createdMs', ARGV[1], 'repeats', 0, 'dropped', 0)
  end
  redis.call('HSET', KEYS[1], 'status', 'Cancelled', 'stoppedMs', ARGV[1], 'updatedMs', ARGV[1],
    'finishedMs', ARGV[1])
  return 'Cancelled'
end
if st == 'Running' then
  redis.call('HSET', KEYS[1], 'status', 'Stopping', 'stoppedMs', ARGV[1], 'updatedMs', ARGV[1])
  return 'Stopping'
end
return st`,
  },
  // KEYS: run. ARGV: nowMs, errorCode, errorInfo. Not delivered in time -> Aborted.
  fcRunAbort: {
    keys: 1,
    lua: `
local st = redis.call('HGET', KEYS[1], 'status')
if st and st ~= 'Pending' then return st end
if not st then
  redis.call('HSET', KEYS[1], 'createdMs', ARGV[1], 'repeats', 0, 'dropped', 0)
end
redis.call('HSET', KEYS[1], 'status', 'Aborted', 'updatedMs', ARGV[1], 'finishedMs', ARGV[1],
  'errorCode', ARGV[2], 'errorInfo', ARGV[3])
return 'Aborted'`,
  },
  // KEYS: run, active. ARGV: invokeId, currentAgentInstance, nowMs, errorCode, errorInfo.
  // A run left Running by an earlier life of the agent is never re-run: it becomes Error.
  fcRunInterrupt: {
    keys: 2,
    lua: `
local st = redis.call('HGET', KEYS[1], 'status')
if st and redis.call('HGET', KEYS[1], 'agent') == ARGV[2] then return 'Mine' end
if st == 'Running' then
  redis.call('HSET', KEYS[1], 'status', 'Error', 'finishedMs', ARGV[3], 'updatedMs', ARGV[3],
    'errorCode', ARGV[4], 'errorInfo', ARGV[5])
  redis.call('SREM', KEYS[2], ARGV[1])
  return 'Error'
end
if st == 'Stopping' then
  redis.call('HSET', KEYS[1], 'status', 'Terminated', 'finishedMs', ARGV[3], 'updatedMs', ARGV[3])
  redis.call('SREM', KEYS[2], ARGV[1])
  return 'Terminated'
end
redis.call('SREM', KEYS[2], ARGV[1])
return st or 'Missing'`,
  },
  // KEYS: invocation. ARGV: field/value pairs. Writes the hash unless it exists; answers the
  // stored createdMs and whether this call created it ('1 <ms>' / '0 <ms>').
  fcInvCreate: {
    keys: 1,
    lua: `
if redis.call('EXISTS', KEYS[1]) == 1 then
  return '0 ' .. (redis.call('HGET', KEYS[1], 'createdMs') or '0')
end
redis.call('HSET', KEYS[1], unpack(ARGV))
return '1 ' .. redis.call('HGET', KEYS[1], 'createdMs')`,
  },
  // KEYS: nodeInfo. ARGV: field/value pairs. Returns the previous boot id ('' if none).
  fcNodeRegister: {
    keys: 1,
    lua: `
local prev = redis.call('HGET', KEYS[1], 'bootId') or ''
redis.call('HSET', KEYS[1], unpack(ARGV))
redis.call('HDEL', KEYS[1], 'stoppedMs')
return prev`,
  },
} as const;

type ScriptName = keyof typeof SCRIPTS;
type ScriptArg = string | number | Buffer;

export type ScriptedRedis = Redis & {
  [K in ScriptName]: (...args: ScriptArg[]) => Promise<string>;
};

/** Registers the scripts on a client once (ioredis uses EVALSHA and reloads on NOSCRIPT). */
export function withScripts(client: Redis): ScriptedRedis {
  const c = client as Redis & Record<string, unknown>;
  for (const [name, s] of Object.entries(SCRIPTS)) {
    if (typeof c[name] !== 'function')
      client.defineCommand(name, { numberOfKeys: s.keys, lua: s.lua });
  }
  return client as ScriptedRedis;
}
