--[[
  Lists an invocation in one step, so it is in every listing or in none; then drops index
  entries (and undispatched ones, whose dispatch never completed) older than the cutoff, except
  invocations that may still fire (they stay listed while they live).

    Input:
      KEYS[1] invocation index or sent-file index (sorted set, {global})
      KEYS[2] undispatched invocations (sorted set, {global})
      KEYS[3] timed invocations (set, {global})

      ARGV[1] invokeId
      ARGV[2] createdMs
      ARGV[3] cutoffMs
      ARGV[4] command: '1' = also among the undispatched
      ARGV[5] timed: '1' = among the invocations that may still fire

    Output:
      <n>   how many old index entries it checked (integer)
]]
if ARGV[4] == '1' then
  redis.call('ZADD', KEYS[2], 'NX', ARGV[2], ARGV[1])
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[3])
end
if ARGV[5] == '1' then redis.call('SADD', KEYS[3], ARGV[1]) end
redis.call('ZADD', KEYS[1], 'NX', ARGV[2], ARGV[1])
local old = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[3], 'LIMIT', 0, 500)
for _, id in ipairs(old) do
  if redis.call('SISMEMBER', KEYS[3], id) == 0 then redis.call('ZREM', KEYS[1], id) end
end
return #old
