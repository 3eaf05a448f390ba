--[[
  Changes a node's tags and keeps the tag indexes in step, in one step: the node's `api`,
  `agent` and `node` (effective) hashes, the per-key and per-pair sets of node ids, and the set
  of tagged nodes. What the node carries is its API-set tags, then its agent-reported tags of
  other keys in key order while there is room (an API tag wins over an agent tag of its key).
  Every name is in `{global}` (see Keys.nodeTags, tagKeyIndex, tagPairIndex).

    Input:
      KEYS[1] tagged nodes (sorted set)

      ARGV[1] node tags prefix (Keys.nodeTagsPrefix): hashes <prefix><api|agent|node>:<nodeId>
      ARGV[2] tag index prefix (Keys.tagIndexPrefix)
      ARGV[3] the most tags a node carries
      ARGV[4] nodeId
      ARGV[5] op: 'agent' (replace the agent's tags with the pairs), 'set' (set API tags),
              'unset' (remove these keys, API- and agent-set), 'forget' (remove every tag)
      ARGV[6...] key/value pairs ('agent', 'set') or keys ('unset')

    Output:
      <n>   tags the node carries now (integer)
      -1    'set' would give the node more than ARGV[3] tags: nothing changed
]]
local tagsPrefix, idx, max, id, op = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5]
local apiKey, agentKey, nodeKey = tagsPrefix .. 'api:' .. id, tagsPrefix .. 'agent:' .. id,
  tagsPrefix .. 'node:' .. id

local function read(key)
  local flat, t = redis.call('HGETALL', key), {}
  for i = 1, #flat, 2 do t[flat[i]] = flat[i + 1] end
  return t
end
local function write(key, t)
  redis.call('DEL', key)
  local flat = {}
  for k, v in pairs(t) do flat[#flat + 1] = k; flat[#flat + 1] = v end
  if #flat > 0 then redis.call('HSET', key, unpack(flat)) end
end
local function keyIndex(k) return idx .. 'k:' .. #k .. ':' .. k end
local function pairIndex(k, v) return idx .. 'v:' .. #k .. ':' .. k .. ':' .. v end

local api, agent = read(apiKey), read(agentKey)
if op == 'agent' then
  agent = {}
  for i = 6, #ARGV, 2 do agent[ARGV[i]] = ARGV[i + 1] end
elseif op == 'set' then
  for i = 6, #ARGV, 2 do api[ARGV[i]] = ARGV[i + 1] end
elseif op == 'unset' then
  for i = 6, #ARGV do api[ARGV[i]] = nil; agent[ARGV[i]] = nil end
elseif op == 'forget' then
  api, agent = {}, {}
else
  return redis.error_reply('node-tags-1.lua: unknown op ' .. op)
end

local carried, n = {}, 0
for k, v in pairs(api) do carried[k] = v; n = n + 1 end
local agentOnly = {}
for k in pairs(agent) do if api[k] == nil then agentOnly[#agentOnly + 1] = k end end
if op == 'set' and n + #agentOnly > max then return -1 end
table.sort(agentOnly)
for _, k in ipairs(agentOnly) do
  if n >= max then break end
  carried[k] = agent[k]; n = n + 1
end

local before = read(nodeKey)
for k, v in pairs(before) do
  if carried[k] ~= v then
    redis.call('SREM', pairIndex(k, v), id)
    if carried[k] == nil then redis.call('SREM', keyIndex(k), id) end
  end
end
for k, v in pairs(carried) do
  if before[k] ~= v then
    redis.call('SADD', pairIndex(k, v), id)
    if before[k] == nil then redis.call('SADD', keyIndex(k), id) end
  end
end
write(apiKey, api)
write(agentKey, agent)
write(nodeKey, carried)
if n > 0 then redis.call('ZADD', KEYS[1], 0, id) else redis.call('ZREM', KEYS[1], id) end
return n
