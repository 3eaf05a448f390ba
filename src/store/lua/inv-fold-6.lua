--[[
  Counts one node's ended run of an invocation, once: in the invocation's output groups (by
  status, exit code and output digest, with up to 10 node ids a group) and, when that fire has
  a rollout, in its errors and active nodes. Idempotent: a node is counted once per fire, so
  every scheduler replica's event relay may fold the same RunFinished.

    Input:
      KEYS[1] invocation (hash)
      KEYS[2] output groups (hash)
      KEYS[3] nodes counted for this fire (set)
      KEYS[4] the fire's rollout state (hash)
      KEYS[5] the fire's active released nodes (set)
      KEYS[6] the invocation's target set (set; only for more targets than its hash lists)

      ARGV[1] nodeId
      ARGV[2] status
      ARGV[3] exitCode ('' = none)
      ARGV[4] output digest ('' = none)
      ARGV[5] error: '1' = the status counts as an error under MaxErrors
      ARGV[6] retentionMs (the groups)
      ARGV[7] how long the fire's set of counted nodes is kept (ms)

    Neither the groups nor the counted set outlives the invocation's hash: while the hash has a
    TTL (a one-off invocation, or a timed one that is over), both expire with it.

    A node's event outbox is writable by its agent, so a hostile agent could announce runs it
    never had: a node not among the invocation's targets is not counted (the hash lists up to
    1,000 of them; a longer target list has its set, KEYS[6], except an invocation made before
    target sets existed, which is not checked), and an error counts under
    MaxErrors only for a node the rollout released and has not counted yet.

    Output:
      'Unknown'   no such invocation, or the node is not one of its targets; nothing changes
      'Already'   this node's run of the fire was counted before
      'Folded'    counted now
      'Rollout'   counted now, and the fire has a rollout (its next step may release nodes)
]]
-- Node ids never hold a '"' (NODE_ID_RE), so this finds exactly that id in the JSON list. A
-- hash that lists its targets exists; only one that does not is looked for.
local targets = redis.call('HGET', KEYS[1], 'nodeIds')
if targets then
  if not string.find(targets, '"' .. ARGV[1] .. '"', 1, true) then return 'Unknown' end
elseif redis.call('EXISTS', KEYS[1]) == 0 then
  return 'Unknown'
elseif redis.call('SISMEMBER', KEYS[6], ARGV[1]) == 0
  and redis.call('EXISTS', KEYS[6]) == 1 then
  -- An invocation made before target sets existed has none: counted as it was then.
  return 'Unknown'
end
-- The hash's remaining life (-1: none yet) bounds the keys made here.
local left = redis.call('PTTL', KEYS[1])
local function keep(key, ms)
  if left > 0 and left < tonumber(ms) then ms = left end
  redis.call('PEXPIRE', key, ms)
end
if redis.call('SADD', KEYS[3], ARGV[1]) == 0 then return 'Already' end
keep(KEYS[3], ARGV[7])
local group = ARGV[2] .. '\t' .. ARGV[3] .. '\t' .. ARGV[4]
redis.call('HINCRBY', KEYS[2], 'c ' .. group, 1)
local ids = redis.call('HGET', KEYS[2], 'n ' .. group)
if not ids then
  redis.call('HSET', KEYS[2], 'n ' .. group, ARGV[1])
else
  local _, spaces = string.gsub(ids, ' ', '')
  if spaces < 9 then redis.call('HSET', KEYS[2], 'n ' .. group, ids .. ' ' .. ARGV[1]) end
end
keep(KEYS[2], ARGV[6])
if redis.call('EXISTS', KEYS[4]) == 0 then return 'Folded' end
if redis.call('SREM', KEYS[5], ARGV[1]) == 1 and ARGV[5] == '1' then
  redis.call('HINCRBY', KEYS[4], 'errors', 1)
end
return 'Rollout'
