--[[
  Writes a new saved command (createdMs = NOW, invokeTimes 0).

    Input:
      KEYS[1] command (hash)

      ARGV[1...] field/value pairs

    Output:
      <createdMs>   NOW, as a string
]]
redis.call('HSET', KEYS[1], unpack(ARGV))
redis.call('HSET', KEYS[1], 'createdMs', NOW, 'invokeTimes', 0)
return NOW
