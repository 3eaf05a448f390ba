--[[
  A clean shutdown of an agent: its node is offline at once.

    Input:
      KEYS[1] node info (hash)

    Output:
      <ms>   NOW, as a string
]]
redis.call('HSET', KEYS[1], 'stoppedMs', NOW)
return NOW
