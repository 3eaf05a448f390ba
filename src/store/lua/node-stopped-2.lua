--[[
  A clean shutdown of an agent: its node is offline at once.

    Input:
      KEYS[1] node info (hash)
      KEYS[2] node event outbox (stream): NodeOffline is announced there

    Output:
      <ms>   NOW, as a string
]]
redis.call('HSET', KEYS[1], 'stoppedMs', NOW)
emit(KEYS[2], 'NodeOffline', {Reason = 'Stopped'})
return NOW
