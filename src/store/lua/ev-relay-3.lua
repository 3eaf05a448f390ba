--[[
  Copies one event of a node's outbox into the event stream, exactly once and in the outbox's
  order: the relay's cursor for the node (the last outbox id copied) moves with the copy, so
  an event read twice (a retried batch, two servers relaying) is copied once. The run's end
  that leaves none of a tracked invocation's runs to go also announces InvocationFinished, in
  the same step, with the count of runs by status and the aggregate status.

    Input:
      KEYS[1] event stream ({global})
      KEYS[2] relay cursors (hash: nodeId -> last outbox id copied, {global})
      KEYS[3] the event's invocation's progress (hash, {global}; see ev-created-2.lua)

      ARGV[1] the stream's length bound (XADD MAXLEN ~)
      ARGV[2] nodeId
      ARGV[3] outbox id of the event
      ARGV[4] type
      ARGV[5] timeMs: when it happened
      ARGV[6] Data (JSON)
      ARGV[7] invokeId ('' = none)
      ARGV[8] final status of a run that ended ('' = not a run's end)
      ARGV[9] status classes: 'status=class,...' (class Success, Failed or Stopped: what an
              invocation whose runs all ended so is)

    Output:
      ''                           copied before; nothing changes
      <id>                         the event's stream id
      <id> <finishedId>            and the InvocationFinished it completed
]]
local function before(a, b)
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)
  return am < bm or (am == bm and as <= bs)
end
local cursor = redis.call('HGET', KEYS[2], ARGV[2]) or '0-0'
if before(ARGV[3], cursor) then return '' end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'type', ARGV[4],
  'time', ARGV[5], 'data', ARGV[6])
if ARGV[8] == '' or ARGV[7] == '' then return id end
if not redis.call('HGET', KEYS[3], 'left') then return id end
redis.call('HINCRBY', KEYS[3], 's:' .. ARGV[8], 1)
if redis.call('HINCRBY', KEYS[3], 'left', -1) ~= 0 then return id end
-- Every run has ended: counts by status, and the aggregate of their classes (one class: it;
-- Stopped with one other: the other; else PartialFailed).
local class = {}
for pair in string.gmatch(ARGV[9], '[^,]+') do
  local s, c = string.match(pair, '^([^=]+)=(.+)$')
  class[s] = c
end
local counts, seen, n, total = {}, {}, 0, 0
local all = redis.call('HGETALL', KEYS[3])
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
local status = 'PartialFailed'
if n == 1 then
  status = next(seen)
elseif n == 2 and seen['Stopped'] then
  seen['Stopped'] = nil
  status = next(seen)
end
redis.call('HDEL', KEYS[3], 'left')
local fin = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'type',
  'InvocationFinished', 'time', ARGV[5], 'data',
  cjson.encode({InvokeId = ARGV[7], InvocationStatus = status, NodeCount = total,
    Counts = counts}))
return id .. ' ' .. fin
