--[[
  An agent's registration. A boot id different from the recorded one is a reboot: it is marked
  pending until the agent has fired the node's boot invocations (bootPending), so a crash in
  between loses none.

    Input:
      KEYS[1] node info (hash)
      KEYS[2] node event outbox (stream): NodeOnline is announced there

      ARGV[1] uptimeMs
      ARGV[2] bootId
      ARGV[3...] field/value pairs

    Output:
      <bootId>   the boot id recorded before ('' on first start)
]]
local prev = redis.call('HGET', KEYS[1], 'bootId') or ''
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('HSET', KEYS[1], 'bootId', ARGV[2], 'registeredMs', NOW, 'lastHeartbeatMs', NOW,
  'bootTimeMs', string.format('%.0f', tonumber(NOW) - tonumber(ARGV[1])))
-- clockOffsetMs: a previous life's measure; this one's comes with its heartbeats.
redis.call('HDEL', KEYS[1], 'stoppedMs', 'clockOffsetMs')
if prev ~= '' and prev ~= ARGV[2] then redis.call('HSET', KEYS[1], 'bootPending', ARGV[2]) end
emit(KEYS[2], 'NodeOnline', {BootId = ARGV[2], Reboot = prev ~= '' and prev ~= ARGV[2]})
return prev
