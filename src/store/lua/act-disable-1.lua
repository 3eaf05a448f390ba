--[[
  DisableActivation: no registration is accepted with it from now on (nodes registered with it
  keep running). Never creates the hash.

    Input:
      KEYS[1] activation (hash)

    Output:
      1   disabled (now or before)
      0   no such activation
]]
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'disabled', '1')
return 1
