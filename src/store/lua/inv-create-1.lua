--[[
  Writes an invocation's hash (createdMs = NOW) unless it exists.

    Input:
      KEYS[1] invocation (hash)

      ARGV[1] retentionMs
      ARGV[2] persist: '1' = kept while it may fire (no expiry yet)
      ARGV[3...] field/value pairs

    Output:
      '1 <createdMs>'   this call created it
      '0 <createdMs>'   it existed: its stored createdMs ('0' when it has none)
]]
if redis.call('EXISTS', KEYS[1]) == 1 then
  return '0 ' .. (redis.call('HGET', KEYS[1], 'createdMs') or '0')
end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('HSET', KEYS[1], 'createdMs', NOW)
if ARGV[2] ~= '1' then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return '1 ' .. NOW
