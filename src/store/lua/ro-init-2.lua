--[[
  Sets up one fire's rollout (MaxConcurrency, MaxErrors): records its limits and appends a
  group of nodes to its release queue, once per group (a retried dispatch or fire job finds it
  done). A fire of several schedule groups (time zones) with the same fire id shares one
  rollout. Releases nothing: ro-step-4.lua does.

    Input:
      KEYS[1] the fire's rollout state (hash)
      KEYS[2] the fire's release queue (list)

      ARGV[1] group id (the schedule's id; 'once' for a one-off run)
      ARGV[2] MaxConcurrency as sent ('' = none)
      ARGV[3] MaxErrors as sent ('' = none)
      ARGV[4] how long the rollout's keys are kept (ms)
      ARGV[5..] the group's node ids, in release order

    Output:
      1   the group was added now
      0   it had been added before
]]
redis.call('HSET', KEYS[1], 'mc', ARGV[2], 'me', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
if redis.call('HSETNX', KEYS[1], 'g ' .. ARGV[1], 1) == 0 then return 0 end
for i = 5, #ARGV do redis.call('RPUSH', KEYS[2], ARGV[i]) end
redis.call('HINCRBY', KEYS[1], 'n', #ARGV - 4)
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return 1
