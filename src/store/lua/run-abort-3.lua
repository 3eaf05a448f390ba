--[[
  A run of this fire not delivered in time: Pending (or no record) -> Aborted.

    Input:
      KEYS[1] run record (hash)
      KEYS[2] node stats (hash)
      KEYS[3] node event outbox (stream)

      ARGV[1] retentionMs
      ARGV[2] errorCode
      ARGV[3] errorInfo
      ARGV[4] fire
      ARGV[5] invokeId

    Output:
      'Aborted'      aborted now
      'Superseded'   Pending for another fire; nothing changes
      <status>       any status but Pending, unchanged
]]
local st = redis.call('HGET', KEYS[1], 'status')
if st and st ~= 'Pending' then return st end
if st and (redis.call('HGET', KEYS[1], 'fire') or '') ~= ARGV[4] then return 'Superseded' end
if not st then newRun(KEYS[1], ARGV[1]) end
redis.call('HSET', KEYS[1], 'updatedMs', NOW, 'finishedMs', NOW,
  'errorCode', ARGV[2], 'errorInfo', ARGV[3])
settle(KEYS[1], 'Aborted', true, KEYS[2], KEYS[3], ARGV[5])
return 'Aborted'
