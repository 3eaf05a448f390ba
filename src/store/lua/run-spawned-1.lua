--[[
  Records where the command runs, so a later life of the agent can kill it if this one dies.

    Input:
      KEYS[1] run record (hash)

      ARGV[1] agent instance
      ARGV[2] process group id
      ARGV[3] script directory

    Output:
      1   recorded
      0   the run belongs to another agent instance; nothing changes
]]
if redis.call('HGET', KEYS[1], 'agent') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'pgid', ARGV[2], 'scriptDir', ARGV[3])
return 1
