--[[
  Writes an invocation's hash (createdMs = NOW) unless it exists. A target list too long for a
  hash field (a tag target) was written beforehand, a chunk at a time, to a draft list of this
  attempt's own: it becomes the invocation's node list here, with the hash, or is dropped when
  the invocation exists (a retry, or a twin request, wrote it first).

    Input:
      KEYS[1] invocation (hash)
      KEYS[2] this attempt's draft node list (list; absent when the hash holds the nodes)
      KEYS[3] the invocation's node list (list)

      ARGV[1] retentionMs
      ARGV[2] persist: '1' = kept while it may fire (no expiry yet)
      ARGV[3...] field/value pairs

    Output:
      '1 <createdMs>'   this call created it
      '0 <createdMs>'   it existed: its stored createdMs ('0' when it has none)
]]
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('DEL', KEYS[2])
  return '0 ' .. (redis.call('HGET', KEYS[1], 'createdMs') or '0')
end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('HSET', KEYS[1], 'createdMs', NOW)
if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('RENAME', KEYS[2], KEYS[3])
  redis.call('PERSIST', KEYS[3])
end
if ARGV[2] ~= '1' then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  if redis.call('EXISTS', KEYS[3]) == 1 then redis.call('PEXPIRE', KEYS[3], ARGV[1]) end
end
return '1 ' .. NOW
