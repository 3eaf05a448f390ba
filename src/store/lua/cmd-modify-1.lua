--[[
  Sets fields of a saved command only while it exists: a concurrent DeleteCommand must not
  leave a half hash behind.

    Input:
      KEYS[1] command (hash)

      ARGV[1...] field/value pairs (none: only checks that it exists)

    Output:
      '1'   it exists (and now has those fields)
      '0'   it does not exist
]]
if redis.call('EXISTS', KEYS[1]) == 0 then return '0' end
if #ARGV > 0 then redis.call('HSET', KEYS[1], unpack(ARGV)) end
return '1'
