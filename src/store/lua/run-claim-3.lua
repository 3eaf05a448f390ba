--[[
  The agent's claim of a run: Pending -> Running for this fire. The agent may start the command
  only on 'Claimed', which is what makes a run at-most-once: a stop, a delivery timeout, a newer
  fire or a second delivery of the same job all lose this compare-and-set.

    Input:
      KEYS[1] run record (hash)
      KEYS[2] node active runs (set)
      KEYS[3] node event outbox (stream): RunStarted is announced there

      ARGV[1] invokeId
      ARGV[2] agent instance
      ARGV[3] claim nonce
      ARGV[4] bootId
      ARGV[5] fire

    Output:
      'Claimed'      this claim moved the run to Running (or a resend of that same claim after a
                     reconnect, recognised by its nonce)
      'Superseded'   the record waits for a newer fire than this job's
      'Missing'      no record
      <status>       any other status found, unchanged
]]
local st = redis.call('HGET', KEYS[1], 'status')
if st == 'Running' and redis.call('HGET', KEYS[1], 'claim') == ARGV[3] then return 'Claimed' end
if st ~= 'Pending' then return st or 'Missing' end
if (redis.call('HGET', KEYS[1], 'fire') or '') ~= ARGV[5] then return 'Superseded' end
redis.call('HSET', KEYS[1], 'status', 'Running', 'startedMs', NOW, 'updatedMs', NOW,
  'agent', ARGV[2], 'claim', ARGV[3], 'bootId', ARGV[4])
local repeats = redis.call('HINCRBY', KEYS[1], 'repeats', 1)
emit(KEYS[3], 'RunStarted', {InvokeId = ARGV[1], Fire = ARGV[5], Repeats = repeats})
redis.call('SADD', KEYS[2], ARGV[1])
return 'Claimed'
