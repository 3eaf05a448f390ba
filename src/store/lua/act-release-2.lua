--[[
  Gives a node's place on its activation back: after DeregisterNodes (counted as
  DeregisteredCount + 1), or when a registration failed after its claim (undone: RegisteredCount
  - 1, as if it never happened).

    Input:
      KEYS[1] activation (hash)
      KEYS[2] the activation's registered nodes (set)
      ARGV[1] node id
      ARGV[2] 'deregister' or 'undo'

    Output:
      1   the node held a place and gave it back
      0   it held none (already released, or the activation is gone)
]]
if redis.call('SREM', KEYS[2], ARGV[1]) == 0 then return 0 end
if redis.call('EXISTS', KEYS[1]) == 0 then return 1 end
if ARGV[2] == 'undo' then
  redis.call('HINCRBY', KEYS[1], 'registeredCount', -1)
else
  redis.call('HINCRBY', KEYS[1], 'deregisteredCount', 1)
end
return 1
