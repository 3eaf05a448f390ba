--[[
  The agent's claim of a run: Pending -> Running for this fire. The agent may start the command
  only on 'Claimed', which is what makes a run at-most-once: a stop, a delivery timeout, a newer
  fire or a second delivery of the same job all lose this compare-and-set.

  Armed (ARGV[6] = '1'), for a fire delivered ahead of its slot: the record stays Pending (the
  API never shows Running before the slot) but holds this claim, so no other claim takes it,
  and the run is listed in the node's active runs (a later life of the agent finds and kills a
  command started before its start was recorded). At the slot the agent reads the record once
  (a stop answered before the slot made it Cancelled) and starts the command; run-spawned-3.lua
  then records Running and the start.

    Input:
      KEYS[1] run record (hash)
      KEYS[2] node active runs (set)
      KEYS[3] node event outbox (stream): RunStarted is announced there

      ARGV[1] invokeId
      ARGV[2] agent instance
      ARGV[3] claim nonce
      ARGV[4] bootId
      ARGV[5] fire
      ARGV[6] '1' = arm (see above); '' = claim

    Output:
      'Claimed'      this claim moved the run to Running, or armed it (or a resend of that same
                     claim after a reconnect, recognised by its nonce)
      'Armed'        Pending and armed by another claim
      'Superseded'   the record waits for a newer fire than this job's
      'Missing'      no record
      <status>       any other status found, unchanged
]]
local r = redis.call('HMGET', KEYS[1], 'status', 'claim', 'fire')
local st = r[1]
if r[2] == ARGV[3] and (st == 'Running' or (st == 'Pending' and ARGV[6] == '1')) then
  return 'Claimed'
end
if st ~= 'Pending' then return st or 'Missing' end
if r[2] then return 'Armed' end
if (r[3] or '') ~= ARGV[5] then return 'Superseded' end
if ARGV[6] == '1' then
  redis.call('HSET', KEYS[1], 'agent', ARGV[2], 'claim', ARGV[3], 'bootId', ARGV[4])
  redis.call('SADD', KEYS[2], ARGV[1])
  return 'Claimed'
end
redis.call('HSET', KEYS[1], 'status', 'Running', 'startedMs', NOW, 'updatedMs', NOW,
  'agent', ARGV[2], 'claim', ARGV[3], 'bootId', ARGV[4])
local repeats = redis.call('HINCRBY', KEYS[1], 'repeats', 1)
emit(KEYS[3], 'RunStarted', {InvokeId = ARGV[1], Fire = ARGV[5], Repeats = repeats})
redis.call('SADD', KEYS[2], ARGV[1])
return 'Claimed'
