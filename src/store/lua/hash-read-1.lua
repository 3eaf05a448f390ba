--[[
  Reads fields of a hash a node's agent may write (its run record, a history entry, its info,
  its stats) with every value capped, so a value however large never crosses the wire whole: a
  field over the cap answers its length instead. One field may be read as a head and a tail (a
  run's output): whole when it fits its own cap, else only its first and last halves of it.
  Writes nothing.

    Input:
      KEYS[1] the hash

      ARGV[1] cap: most bytes of a field answered whole
      ARGV[2] split field ('' = none)
      ARGV[3] the split field's cap (bytes)
      ARGV[4...] the fields

    Output:
      { value1, ..., valueN }   per field of ARGV[4...]: its value, nil when absent, or its
                                length (integer) when over ARGV[1]
      then, with a split field: head, tail ('' when it fitted), length (0 when absent)
]]
local cap = tonumber(ARGV[1])
local out = {}
-- One HMGET for every field (absent ones answer false, sent back as nil); the values pass
-- through this script's memory, never over the wire whole.
if #ARGV >= 4 then
  local values = redis.call('HMGET', KEYS[1], unpack(ARGV, 4))
  for i = 1, #ARGV - 3 do
    local v = values[i]
    if v and #v > cap then
      out[i] = #v
    else
      out[i] = v
    end
  end
end
if ARGV[2] ~= '' then
  local v = redis.call('HGET', KEYS[1], ARGV[2]) or ''
  local n = #v
  local splitCap = tonumber(ARGV[3])
  if n <= splitCap then
    out[#out + 1] = v
    out[#out + 1] = ''
  else
    local half = math.floor(splitCap / 2)
    out[#out + 1] = string.sub(v, 1, half)
    out[#out + 1] = string.sub(v, -half)
  end
  out[#out + 1] = n
end
return out
