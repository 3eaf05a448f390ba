--[[
  Copies a batch of events of the event stream into the backlog of each webhook that wants
  them, and moves the fan-out's cursor past the batch, in one step: whichever scheduler replica
  runs it first copies the batch, the others find the cursor moved and copy nothing, so each
  event reaches each backlog once, in the stream's order.

    Input:
      KEYS[1] webhook ids (sorted set, {global})
      KEYS[2] the fan-out's cursor (string, {global})

      ARGV[1] the cursor the batch was read after (refused if it moved since)
      ARGV[2] the id of the batch's last event (the new cursor)
      ARGV[3] webhook hash name prefix (the name without the id, {global})
      ARGV[4] backlog name prefix ({global})
      ARGV[5] the most events a backlog keeps (XADD MAXLEN ~)
      ARGV[6...] per event, 3 values: its id, type and the JSON delivered

    Output:
      '!'                 the cursor had moved: nothing was copied
      'id1,id2,...'       the webhooks that got events ('' none)
]]
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return '!' end
local function after(a, b)
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)
  return am > bm or (am == bm and as > bs)
end
local hooks = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local h = redis.call('HMGET', ARGV[3] .. id, 'types', 'fromId')
  if h[1] then hooks[#hooks + 1] = { id = id, types = ',' .. h[1] .. ',', from = h[2] or '0-0' } end
end
local touched, out = {}, {}
for i = 6, #ARGV, 3 do
  local eid, etype, json = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  for _, w in ipairs(hooks) do
    if string.find(w.types, ',' .. etype .. ',', 1, true) and after(eid, w.from) then
      redis.call('XADD', ARGV[4] .. w.id, 'MAXLEN', '~', ARGV[5], eid, 'e', json)
      if not touched[w.id] then
        touched[w.id] = true
        out[#out + 1] = w.id
      end
    end
  end
end
redis.call('SET', KEYS[2], ARGV[2])
return table.concat(out, ',')
