--[[
  A run of this fire not delivered in time: Pending (or no record) -> Aborted (or Cancelled,
  for a node a rollout stops before it starts).

    Input:
      KEYS[1] run record (hash)
      KEYS[2] node stats (hash)
      KEYS[3] node event outbox (stream)

      ARGV[1] retentionMs
      ARGV[2] errorCode
      ARGV[3] errorInfo
      ARGV[4] fire
      ARGV[5] invokeId
      ARGV[6] final status: 'Aborted' (default), or 'Cancelled' for a node a rollout does not
              start (MaxErrors exceeded)

    Output:
      'Aborted'      aborted now ('Cancelled' when ARGV[5] asked for it)
      'Superseded'   Pending for another fire; nothing changes
      <status>       any status but Pending, unchanged
]]
local st = redis.call('HGET', KEYS[1], 'status')
if st and st ~= 'Pending' then return st end
if st and (redis.call('HGET', KEYS[1], 'fire') or '') ~= ARGV[4] then return 'Superseded' end
if not st then newRun(KEYS[1], ARGV[1]) end
redis.call('HSET', KEYS[1], 'updatedMs', NOW, 'finishedMs', NOW,
  'errorCode', ARGV[2], 'errorInfo', ARGV[3])
local final = ARGV[6] or 'Aborted'
if final ~= 'Cancelled' then final = 'Aborted' end
settle(KEYS[1], final, true, KEYS[2], KEYS[3], ARGV[5])
return final
