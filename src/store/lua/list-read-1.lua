--[[
  Reads the first elements of a list a node's agent may write (a run's history) with every
  element capped: an element over the cap answers its length instead. Writes nothing.

    Input:
      KEYS[1] the list

      ARGV[1] most elements read
      ARGV[2] cap: most bytes of an element answered whole

    Output:
      { element1, ... }   each element, or its length (integer) when over ARGV[2]
]]
local count = tonumber(ARGV[1])
local cap = tonumber(ARGV[2])
local out = {}
for i, v in ipairs(redis.call('LRANGE', KEYS[1], 0, count - 1)) do
  if #v > cap then out[i] = #v else out[i] = v end
end
return out
