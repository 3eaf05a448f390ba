--[[
  Announces a timed invocation's end (InvocationFinished), once: the caller found every node's
  record final. It waits while a node's outbox holds an event the relay has not copied yet
  (the run's RunFinished is appended to it in the step that made the record final), so the
  event comes after every run's end in the stream. The first call that finds them copied sets
  the progress hash's `finished` flag and appends the event; a later one (a retried upkeep,
  another replica, a restart between this and the invocation leaving the timed set) adds
  nothing. While it waits, the invocation is listed in the finishing set, so the event relay
  asks again soon after the next of its runs' ends is copied (scheduler/event-relay.ts); the
  answer that announces, or finds it announced, takes it off that list.

    Input:
      KEYS[1] event stream ({global})
      KEYS[2] the invocation's event progress (hash, {global}; see ev-created-2.lua)
      KEYS[3] relay cursors (hash: nodeId -> last outbox id copied, {global})
      KEYS[4] finishing: invokeIds whose announcement waits for their runs' ends (set, {global})

      ARGV[1] the stream's length bound (XADD MAXLEN ~)
      ARGV[2] retentionMs: how long the progress is kept from now
      ARGV[3] Data (JSON)
      ARGV[4] the InvokeId
      ARGV[5...] per node, 2 values: its nodeId and the last id its outbox held once its
              record was final

    Output:
      <id>     the event's stream id
      ''       announced before; nothing changes
      'wait'   a node's events are not all copied yet; only the finishing set changes
]]
local function before(a, b)
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)
  return am < bm or (am == bm and as < bs)
end
if redis.call('HEXISTS', KEYS[2], 'finished') == 1 then
  redis.call('SREM', KEYS[4], ARGV[4])
  return ''
end
for i = 5, #ARGV, 2 do
  local cursor = redis.call('HGET', KEYS[3], ARGV[i]) or '0-0'
  if before(cursor, ARGV[i + 1]) then
    redis.call('SADD', KEYS[4], ARGV[4])
    return 'wait'
  end
end
redis.call('SREM', KEYS[4], ARGV[4])
redis.call('HSET', KEYS[2], 'finished', NOW)
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'type', 'InvocationFinished',
  'time', NOW, 'data', ARGV[3])
