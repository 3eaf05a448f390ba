--[[
  Prepended to every script in this directory by src/store/scripts.ts (each script is sent
  whole, so Redis caches one SHA per script and nothing is shared between calls).

  Defines:
    t, NOW         Redis's own clock (TIME), NOW in ms as a string. Every stored time comes
                   from it, so an agent or server whose clock is off neither shows a node
                   offline nor stamps a run before its invocation. A script whose body uses
                   neither (nor newRun, indexOnNode) is sent without the TIME call, both nil
                   (preludeFor in src/store/scripts.ts).
    HISTORY_LIST, HISTORY_ENTRY
                   suffixes of a run key naming its history list and entries; they must match
                   HISTORY_SUFFIXES in src/store/keys.ts (test/unit/lua-scripts.test.ts checks).
    newRun, settle, indexOnNode, emit
                   helpers, each described where it is defined below.
]]
local t = redis.call('TIME')
local NOW = string.format('%.0f', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
local HISTORY_LIST = ':hist'
local HISTORY_ENTRY = ':h:'
-- Appends a lifecycle event to a node's event outbox (a stream in the node's slot, which the
-- servers' event relay copies into the global event stream, see src/store/event-store.ts):
-- its type and its Data as JSON. Bounded: an outbox the relay does not drain (no scheduler
-- running) keeps about its last 1000 events.
-- Each append is noticed on the outbox's sharded channel (its key .. ':new', same slot) for
-- the relay on a Redis Cluster, which reads an outbox when noticed (and sweeps them all now and
-- then, so a notice lost is late, not lost). pcall: a Redis user that may not SPUBLISH there
-- (an agent user made before it was granted) still makes its change, noticed by the sweep.
local function emit(outbox, kind, data)
  redis.call('XADD', outbox, 'MAXLEN', '~', 1000, '*', 'type', kind, 'data', cjson.encode(data))
  redis.pcall('SPUBLISH', outbox .. ':new', '')
end
-- A run record's first fields, kept for retentionMs; every script that creates one uses this.
local function newRun(key, retentionMs)
  redis.call('HSET', key, 'createdMs', NOW, 'updatedMs', NOW, 'repeats', 0, 'dropped', 0,
    'retentionMs', retentionMs)
  redis.call('PEXPIRE', key, retentionMs)
end
-- The fields of a run that its history entry keeps.
local RUN_FIELDS = {'fire', 'fireMs', 'firedMs', 'startedMs', 'finishedMs', 'stoppedMs',
  'exitCode', 'errorCode', 'errorInfo', 'output', 'outputCodec', 'dropped', 'repeats'}
-- Ends the run a record describes with a final status. A run that ended (ran) is counted under
-- its status in the node's stats hash (never expires; /metrics sums it over nodes). A periodic
-- record keeps the run in its history (bounded by histMax entries and histAgeMs; not when ran
-- is false: the record is between runs, its last run already counted) and, while its schedule
-- may still fire, goes back to Scheduled; any other record keeps the status and expires after
-- its retention. A run that ended is announced (RunFinished) in the node's event outbox, with
-- its output digest: the schedulers' event relay counts it in the invocation's output groups and
-- steps the invocation's rollout from there (src/app/rollout.ts), so the change, the event and
-- what the rollout learns are one step.
local function settle(key, status, ran, stats, outbox, invokeId)
  -- One read of what the steps below look at (none of them changes these fields).
  local r = redis.call('HMGET', key, 'periodic', 'timed', 'retentionMs', 'fire', 'exitCode',
    'dropped', 'repeats', 'errorCode', 'digest')
  if ran then
    redis.call('HINCRBY', stats, status, 1)
    emit(outbox, 'RunFinished', {InvokeId = invokeId, InvocationStatus = status,
      ExitCode = tonumber(r[5] or ''), Dropped = tonumber(r[6] or '0') or 0,
      Repeats = tonumber(r[7] or '0') or 0, ErrorCode = r[8] or '', Fire = r[4] or '',
      OutputDigest = r[9] or ''})
  end
  if ran and r[1] == '1' and r[4] then
    local seq = redis.call('HINCRBY', key, 'histSeq', 1)
    local entry = key .. HISTORY_ENTRY .. seq
    local values = redis.call('HMGET', key, unpack(RUN_FIELDS))
    redis.call('HSET', entry, 'status', status, 'seq', seq)
    for i, name in ipairs(RUN_FIELDS) do
      if values[i] then redis.call('HSET', entry, name, values[i]) end
    end
    local ageMs = redis.call('HGET', key, 'histAgeMs') or '604800000'
    local maxEntries = tonumber(redis.call('HGET', key, 'histMax') or '100')
    local list = key .. HISTORY_LIST
    redis.call('PEXPIRE', entry, ageMs)
    redis.call('LPUSH', list, seq)
    while redis.call('LLEN', list) > maxEntries do
      redis.call('DEL', key .. HISTORY_ENTRY .. redis.call('RPOP', list))
    end
    redis.call('PEXPIRE', list, ageMs)
  end
  if r[2] == '1' then
    redis.call('HSET', key, 'status', 'Scheduled', 'endStatus', status)
  else
    redis.call('HSET', key, 'status', status)
    if r[3] then redis.call('PEXPIRE', key, r[3]) end
  end
end
-- Lists an invocation in a node's index and drops entries older than the cutoff whose run
-- record on this node is gone (runPrefix: the node's run key without the invocation id, same
-- slot): a Once record expires with its retention, a timed one lives while it may fire, as the
-- global index keeps them. At most 100 checks a call, from a random place among the entries
-- past the cutoff: entries that must stay (timed invocations) cannot stall pruning behind them,
-- and a write stays cheap. Answers how many entries it checked.
local function indexOnNode(index, createdMs, invokeId, cutoffMs, runPrefix)
  redis.call('ZADD', index, 'NX', createdMs, invokeId)
  local past = redis.call('ZCOUNT', index, '-inf', '(' .. cutoffMs)
  local from = 0
  -- (math.random is seeded alike on every call in Redis scripts: the clock's microseconds vary.)
  if past > 100 then from = tonumber(t[2]) % (past - 99) end
  local old = redis.call('ZRANGEBYSCORE', index, '-inf', '(' .. cutoffMs, 'LIMIT', from, 100)
  for _, id in ipairs(old) do
    if redis.call('EXISTS', runPrefix .. id) == 0 then redis.call('ZREM', index, id) end
  end
  return #old
end
