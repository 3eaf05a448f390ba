--[[
  An agent's heartbeat.

    Input:
      KEYS[1] node info (hash)

    Output:
      <ms>   NOW, as a string
]]
redis.call('HSET', KEYS[1], 'lastHeartbeatMs', NOW)
return NOW
