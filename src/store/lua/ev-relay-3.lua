--[[
  Copies events of one node's outbox into the event stream, exactly once and in the outbox's
  order: the relay's cursor for the node (the last outbox id copied) moves with the copies, so
  an event read twice (a retried batch, two servers relaying) is copied once. The run's end
  that leaves none of a tracked invocation's runs to go also announces InvocationFinished, in
  the same step, with the count of runs by status and the aggregate status.

    Input:
      KEYS[1] event stream ({global})
      KEYS[2] relay cursors (hash: nodeId -> last outbox id copied, {global})
      KEYS[3] progress key prefix: an invocation's progress hash (see ev-created-2.lua) is this
              name followed by its invokeId ({global})

      ARGV[1] the stream's length bound (XADD MAXLEN ~)
      ARGV[2] nodeId
      ARGV[3] status classes: 'status=class,...' (class Success, Failed or Stopped: what an
              invocation whose runs all ended so is)
      ARGV[4...] per event, in outbox order, 6 values: its outbox id, type, timeMs (when it
              happened), Data (JSON), invokeId ('' = none), the final status of a run that
              ended ('' = not a run's end)

    Output:
      '<copied> <finished>'   how many events were copied (the others were before) and how
                              many InvocationFinished they completed
]]
local function before(a, b)
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)
  return am < bm or (am == bm and as <= bs)
end
local class = {}
for pair in string.gmatch(ARGV[3], '[^,]+') do
  local s, c = string.match(pair, '^([^=]+)=(.+)$')
  class[s] = c
end
local function add(kind, time, data)
  return redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'type', kind, 'time', time,
    'data', data)
end
-- Counts a run's end; the last of the invocation's announces InvocationFinished: counts by
-- status, and the aggregate of their classes (one class: it; Stopped with one other: the
-- other; else PartialFailed).
local function ended(invokeId, status, time)
  local key = KEYS[3] .. invokeId
  if not redis.call('HGET', key, 'left') then return 0 end
  redis.call('HINCRBY', key, 's:' .. status, 1)
  if redis.call('HINCRBY', key, 'left', -1) ~= 0 then return 0 end
  local counts, seen, n, total = {}, {}, 0, 0
  local all = redis.call('HGETALL', key)
  for i = 1, #all, 2 do
    local s = string.match(all[i], '^s:(.+)$')
    if s then
      local c = tonumber(all[i + 1])
      counts[s] = c
      total = total + c
      local k = class[s] or 'Failed'
      if not seen[k] then seen[k] = true; n = n + 1 end
    end
  end
  local agg = 'PartialFailed'
  if n == 1 then
    agg = next(seen)
  elseif n == 2 and seen['Stopped'] then
    seen['Stopped'] = nil
    agg = next(seen)
  end
  redis.call('HDEL', key, 'left')
  add('InvocationFinished', time, cjson.encode({InvokeId = invokeId, InvocationStatus = agg,
    NodeCount = total, Counts = counts}))
  return 1
end
local cursor = redis.call('HGET', KEYS[2], ARGV[2]) or '0-0'
local copied, finished = 0, 0
for i = 4, #ARGV, 6 do
  local id = ARGV[i]
  if not before(id, cursor) then
    cursor = id
    copied = copied + 1
    add(ARGV[i + 1], ARGV[i + 2], ARGV[i + 3])
    if ARGV[i + 5] ~= '' and ARGV[i + 4] ~= '' then
      finished = finished + ended(ARGV[i + 4], ARGV[i + 5], ARGV[i + 2])
    end
  end
end
if copied > 0 then redis.call('HSET', KEYS[2], ARGV[2], cursor) end
return copied .. ' ' .. finished
