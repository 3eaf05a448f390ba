--[[
  One step of a fire's rollout, atomic: once errors exceed MaxErrors, every node not yet
  released is handed back to be Cancelled (and the released ones to be cancelled if still
  Pending; running ones finish); otherwise nodes are released in queue order while fewer than
  MaxConcurrency released nodes are active (released and not yet counted as ended by
  inv-fold-6.lua). A node already counted (stopped before its release) is passed over. A
  percentage rounds up, MaxConcurrency's to at least 1 node (as limitCount in
  src/domain/rollout.ts).

    Input:
      KEYS[1] the fire's rollout state (hash)
      KEYS[2] the fire's release queue (list)
      KEYS[3] the fire's active released nodes (set)
      KEYS[4] nodes counted for this fire (set)

    Output:
      {'None'}                          no rollout state (expired, or never set up)
      {'Release', from, done, id...}    release these nodes (none: nothing to do now); `from`
                                        is the queue position of the first; `done` is 1 when
                                        every node is released and none is active
      {'Cancel', from, done, id...}     errors exceeded MaxErrors: cancel these (not yet
                                        started: those from position `from` on, then the
                                        active ones, which stay unless still Pending)
]]
if redis.call('EXISTS', KEYS[1]) == 0 then return {'None'} end
local s = redis.call('HMGET', KEYS[1], 'n', 'r', 'errors', 'mc', 'me', 'cancelled')
local n = tonumber(s[1] or '0') or 0
local r = tonumber(s[2] or '0') or 0
local errors = tonumber(s[3] or '0') or 0
local function count(spec, min)
  if not spec or spec == '' then return -1 end
  local pct = string.match(spec, '^(%d+)%%$')
  if pct then return math.max(min, math.ceil(n * tonumber(pct) / 100)) end
  return tonumber(spec) or -1
end
local mc = count(s[4], 1)
local me = count(s[5], 0)
if me >= 0 and errors > me then
  -- `r` moves past the cancelled nodes only once the caller has cancelled them all (see
  -- RolloutStore.markCancelled): a crash half-way through leaves them to the next step.
  local out = {'Cancel', r, 0}
  redis.call('HSET', KEYS[1], 'cancelled', 1)
  if r < n then
    for _, id in ipairs(redis.call('LRANGE', KEYS[2], r, n - 1)) do out[#out + 1] = id end
  end
  for _, id in ipairs(redis.call('SMEMBERS', KEYS[3])) do out[#out + 1] = id end
  if r >= n and redis.call('SCARD', KEYS[3]) == 0 then out[3] = 1 end
  return out
end
local active = redis.call('SCARD', KEYS[3])
local out = {'Release', r, 0}
while r < n and (mc < 0 or active < mc) do
  local id = redis.call('LINDEX', KEYS[2], r)
  r = r + 1
  if id and redis.call('SISMEMBER', KEYS[4], id) == 0 then
    redis.call('SADD', KEYS[3], id)
    active = active + 1
    out[#out + 1] = id
  end
end
redis.call('HSET', KEYS[1], 'r', r)
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 then redis.call('PEXPIRE', KEYS[3], ttl) end
if r >= n and active == 0 then out[3] = 1 end
return out
