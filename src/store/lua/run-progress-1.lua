--[[
  Stores a running command's output so far. Answers the status, so the agent learns of a stop
  even without pub/sub.

    Input:
      KEYS[1] run record (hash)

      ARGV[1] agent instance
      ARGV[2] hasOutput: '1' = store ARGV[3] and ARGV[4]
      ARGV[3] output
      ARGV[4] dropped bytes

    Output:
      <status>    the record's status ('Stopping' means: kill it)
      'Missing'   no record
]]
local st = redis.call('HGET', KEYS[1], 'status')
if redis.call('HGET', KEYS[1], 'agent') ~= ARGV[1] then return st or 'Missing' end
if st ~= 'Running' and st ~= 'Stopping' then return st end
if ARGV[2] == '1' then
  redis.call('HSET', KEYS[1], 'output', ARGV[3], 'dropped', ARGV[4], 'updatedMs', NOW)
end
return st
