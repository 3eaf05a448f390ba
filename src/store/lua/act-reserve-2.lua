--[[
  RegisterNode's claim on an activation: checks that it exists, is enabled, has not expired
  and has room, then counts the node (RegisteredCount + 1) and remembers it, all at once, so
  two registrations racing for the last place cannot both have it.

    Input:
      KEYS[1] activation (hash)
      KEYS[2] the activation's registered nodes (set)
      ARGV[1] node id

    Output:
      'Reserved'   counted now
      'Missing'    no such activation (never created, or deleted)
      'Disabled'   DisableActivation was called
      'Expired'    its expiresMs has passed (Redis's clock)
      'Full'       InstanceCount nodes are registered with it and not deregistered
      'Already'    that node id is registered with it already
]]
if redis.call('EXISTS', KEYS[1]) == 0 then return 'Missing' end
local f = redis.call('HMGET', KEYS[1], 'disabled', 'expiresMs', 'instanceCount')
if f[1] == '1' then return 'Disabled' end
if tonumber(f[2]) <= tonumber(NOW) then return 'Expired' end
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then return 'Already' end
if redis.call('SCARD', KEYS[2]) >= tonumber(f[3]) then return 'Full' end
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('HINCRBY', KEYS[1], 'registeredCount', 1)
return 'Reserved'
