--[[
  A node judged lost (its agent silent past FLEETCMD_NODE_LOST_SECONDS): announces NodeOffline
  once per silence, only while the node is still as silent as the scheduler saw it and did not
  shut down cleanly (node-stopped-2.lua announced that already).

    Input:
      KEYS[1] node info (hash)
      KEYS[2] node event outbox (stream)

      ARGV[1] the node's last heartbeat (else registration) time the scheduler judged, ms

    Output:
      '1'   announced now
      '0'   heard from since, stopped cleanly, or announced before for this silence
]]
local seen = redis.call('HGET', KEYS[1], 'lastHeartbeatMs') or
  redis.call('HGET', KEYS[1], 'registeredMs') or ''
if seen ~= ARGV[1] then return '0' end
if redis.call('HEXISTS', KEYS[1], 'stoppedMs') == 1 then return '0' end
if redis.call('HGET', KEYS[1], 'lostMs') == ARGV[1] then return '0' end
redis.call('HSET', KEYS[1], 'lostMs', ARGV[1])
emit(KEYS[2], 'NodeOffline', {Reason = 'Lost', LastHeartbeatMs = tonumber(ARGV[1])})
return '1'
