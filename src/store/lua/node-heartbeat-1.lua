--[[
  An agent's heartbeat. Its reply is Redis's clock, which the agent times against its own
  (see src/domain/clock.ts); what it measured at its previous heartbeat comes back here to be
  shown in DescribeNodes.

    Input:
      KEYS[1] node info (hash)

      ARGV[1] clockOffsetMs: Redis's clock minus the agent's, as the agent last measured it
              (a whole number of ms, may be negative); '' when it has not measured yet

    Output:
      <ms>   NOW, as a string
]]
redis.call('HSET', KEYS[1], 'lastHeartbeatMs', NOW)
if ARGV[1] ~= '' then redis.call('HSET', KEYS[1], 'clockOffsetMs', ARGV[1]) end
return NOW
