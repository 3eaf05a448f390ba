--[[
  Writes an invocation's hash (createdMs = NOW) unless it exists. A target list too long for a
  hash field (a tag target) comes with it, in this call (up to 10,000 ids, a space-separated
  chunk an argument), or, longer, was written beforehand, a chunk at a time, to a draft list
  of this attempt's own and, the same ids, to a draft set beside it. Either way it becomes the
  invocation's node list and target set here, with the hash; a draft is dropped when the
  invocation exists (a retry, or a twin request, wrote it first).

    Input:
      KEYS[1] invocation (hash)
      KEYS[2] this attempt's draft node list (list; absent unless the list is drafted)
      KEYS[3] the invocation's node list (list)
      KEYS[4] this attempt's draft target set (set; absent unless the list is drafted)
      KEYS[5] the invocation's target set (set: the same ids, for inv-fold-6.lua)

      ARGV[1] retentionMs
      ARGV[2] persist: '1' = kept while it may fire (no expiry yet)
      ARGV[3] k: how many node id chunks follow (0: the hash holds the nodes, or they are drafted)
      ARGV[4...3+k] node ids, in order, space-separated (node ids hold no space)
      ARGV[4+k...] field/value pairs

    Output:
      '1 <createdMs>'   this call created it
      '0 <createdMs>'   it existed: its stored createdMs ('0' when it has none)
]]
local chunks = tonumber(ARGV[3])
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('DEL', KEYS[2], KEYS[4])
  return '0 ' .. (redis.call('HGET', KEYS[1], 'createdMs') or '0')
end
redis.call('HSET', KEYS[1], unpack(ARGV, 4 + chunks))
redis.call('HSET', KEYS[1], 'createdMs', NOW)
if chunks > 0 then
  redis.call('DEL', KEYS[3], KEYS[5])
  for i = 4, 3 + chunks do
    local ids = {}
    for id in string.gmatch(ARGV[i], '%S+') do ids[#ids + 1] = id end
    redis.call('RPUSH', KEYS[3], unpack(ids))
    redis.call('SADD', KEYS[5], unpack(ids))
  end
end
-- A node list of its own (inline above, or drafted) goes with a 'nodeList' field; an
-- invocation whose hash holds its nodes (most) touches no list or set key.
local listed = chunks > 0
for i = 4 + chunks, #ARGV, 2 do
  if ARGV[i] == 'nodeList' then listed = true end
end
if listed and chunks == 0 then
  for i = 2, 4, 2 do
    if redis.call('EXISTS', KEYS[i]) == 1 then
      redis.call('RENAME', KEYS[i], KEYS[i + 1])
      redis.call('PERSIST', KEYS[i + 1])
    end
  end
end
if ARGV[2] ~= '1' then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  if listed then
    for i = 3, 5, 2 do
      if redis.call('EXISTS', KEYS[i]) == 1 then redis.call('PEXPIRE', KEYS[i], ARGV[1]) end
    end
  end
end
return '1 ' .. NOW
