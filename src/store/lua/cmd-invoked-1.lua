--[[
  Counts one invocation of a saved command (invokeTimes), if it still exists.

    Input:
      KEYS[1] command (hash)

    Output:
      <invokeTimes>   the count after this one, as a string
      '0'             the command does not exist
]]
if redis.call('EXISTS', KEYS[1]) == 0 then return '0' end
return tostring(redis.call('HINCRBY', KEYS[1], 'invokeTimes', 1))
