--[[
  DeleteActivation: deletes the activation unless nodes registered with it remain (the vendor
  refuses that too), atomically with act-reserve-2.lua, so no registration slips in between.

    Input:
      KEYS[1] activation (hash)
      KEYS[2] the activation's registered nodes (set)

    Output:
      'Deleted'   deleted now
      'Missing'   no such activation
      'InUse'     nodes registered with it remain: nothing deleted
]]
if redis.call('EXISTS', KEYS[1]) == 0 then return 'Missing' end
if redis.call('SCARD', KEYS[2]) > 0 then return 'InUse' end
redis.call('DEL', KEYS[1], KEYS[2])
return 'Deleted'
