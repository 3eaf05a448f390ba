--[[
  Ends an invocation's schedule on one node: a run not started (or a node waiting between
  runs) -> Cancelled; Running -> Stopping. A run armed ahead of its slot (Pending with a claim,
  run-claim-3.lua) is not started before its slot (Cancelled: its agent's read at the slot finds
  that and starts nothing); from its slot on, its agent may have started the command without
  having recorded it yet (run-spawned-3.lua): Stopping, and the agent ends it (Terminated, or
  Cancelled when it had not started it).

    Input:
      KEYS[1] run record (hash)
      KEYS[2] node boot triggers (hash)
      KEYS[3] node stats (hash)
      KEYS[4] node event outbox (stream)

      ARGV[1] retentionMs
      ARGV[2] invokeId

    Output:
      'Cancelled'   not started, or between runs
      'Stopping'    running, or armed and past its slot: the agent is to kill it
      <status>      any other status found, unchanged
]]
redis.call('HDEL', KEYS[2], ARGV[2])
local st = redis.call('HGET', KEYS[1], 'status')
if st then
  -- No longer a live schedule: kept for its retention even if its agent never reports again.
  redis.call('HSET', KEYS[1], 'timed', 0)
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
if st == 'Pending' then
  local armed = redis.call('HMGET', KEYS[1], 'claim', 'fireMs')
  if armed[1] and tonumber(NOW) >= (tonumber(armed[2] or '') or math.huge) then st = 'Running' end
end
if not st or st == 'Pending' or st == 'Scheduled' then
  if not st then newRun(KEYS[1], ARGV[1]) end
  redis.call('HSET', KEYS[1], 'stoppedMs', NOW, 'updatedMs', NOW)
  -- A run not started ends now; a node between runs keeps its last run's finish time (and that
  -- run is already in its history).
  local between = st == 'Scheduled'
  if not between then redis.call('HSET', KEYS[1], 'finishedMs', NOW) end
  settle(KEYS[1], 'Cancelled', not between, KEYS[3], KEYS[4], ARGV[2])
  return 'Cancelled'
end
if st == 'Running' then
  redis.call('HSET', KEYS[1], 'status', 'Stopping', 'stoppedMs', NOW, 'updatedMs', NOW)
  return 'Stopping'
end
return st
