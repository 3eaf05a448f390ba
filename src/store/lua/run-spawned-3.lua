--[[
  Records that a claimed run's command was spawned: where it runs (so a later life of the agent
  can kill it if this one dies) and, for a run armed ahead of its slot (run-claim-3.lua, ARGV[6]),
  that it started: Pending -> Running, with the start time the agent measured on its clock
  corrected to Redis's, kept between the slot and Redis's now. A stop that came after the slot
  made an armed record Stopping (run-stop-4.lua): it is recorded as started all the same, and the
  agent kills the command (Terminated).

    Input:
      KEYS[1] run record (hash)
      KEYS[2] node active runs (set)
      KEYS[3] node event outbox (stream): RunStarted is announced there (an armed run's start)

      ARGV[1] claim nonce
      ARGV[2] process group id ('' = none)
      ARGV[3] script directory
      ARGV[4] the start, ms on the agent's corrected clock ('' = a run claimed Running already)
      ARGV[5] the run's slot, ms (with ARGV[4])
      ARGV[6] invokeId

    Output:
      'Running'    recorded
      'Stopping'   recorded; the run is being stopped: the agent is to kill it
      'Other'      the record holds another claim (or none); nothing changes
      'Missing'    no record
      <status>     any other status found (the run ended before it was recorded, e.g. Aborted
                   at its delivery deadline); nothing changes beyond the process group
]]
local r = redis.call('HMGET', KEYS[1], 'status', 'claim', 'startedMs', 'fire')
local st = r[1]
if not st then return 'Missing' end
if r[2] ~= ARGV[1] then return 'Other' end
if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'pgid', ARGV[2], 'scriptDir', ARGV[3]) end
if ARGV[4] ~= '' and not r[3] and (st == 'Pending' or st == 'Stopping') then
  -- Never before the slot, never after now (a clock off by more than the agent measured).
  local startedMs = math.min(tonumber(NOW), math.max(tonumber(ARGV[4]), tonumber(ARGV[5])))
  redis.call('HSET', KEYS[1], 'startedMs', string.format('%.0f', startedMs), 'updatedMs', NOW)
  if st == 'Pending' then
    redis.call('HSET', KEYS[1], 'status', 'Running')
    st = 'Running'
  end
  local repeats = redis.call('HINCRBY', KEYS[1], 'repeats', 1)
  emit(KEYS[3], 'RunStarted', {InvokeId = ARGV[6], Fire = r[4] or '', Repeats = repeats})
  redis.call('SADD', KEYS[2], ARGV[6])
end
return st
