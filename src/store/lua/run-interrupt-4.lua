--[[
  A run left Running by an earlier life of the agent is never re-run: it becomes Error (or
  Terminated when it was being stopped).

    Input:
      KEYS[1] run record (hash)
      KEYS[2] node active runs (set)
      KEYS[3] node stats (hash)
      KEYS[4] node event outbox (stream)

      ARGV[1] invokeId
      ARGV[2] current agent instance
      ARGV[3] errorCode
      ARGV[4] errorInfo

    Output:
      'Error'        was Running
      'Terminated'   was Stopping
      'Mine'         the current agent instance holds it; nothing changes
      'Missing'      no record
      <status>       any other status found, unchanged
]]
local st = redis.call('HGET', KEYS[1], 'status')
if st and redis.call('HGET', KEYS[1], 'agent') == ARGV[2] then return 'Mine' end
redis.call('SREM', KEYS[2], ARGV[1])
if st == 'Running' then
  redis.call('HSET', KEYS[1], 'finishedMs', NOW, 'updatedMs', NOW,
    'errorCode', ARGV[3], 'errorInfo', ARGV[4])
  settle(KEYS[1], 'Error', true, KEYS[3], KEYS[4], ARGV[1])
  return 'Error'
end
if st == 'Stopping' then
  redis.call('HSET', KEYS[1], 'finishedMs', NOW, 'updatedMs', NOW)
  settle(KEYS[1], 'Terminated', true, KEYS[3], KEYS[4], ARGV[1])
  return 'Terminated'
end
return st or 'Missing'
