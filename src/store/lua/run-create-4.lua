--[[
  Creates one node's run record of an invocation unless it exists: Pending for a one-off run,
  Scheduled (kept while it may fire) for a timed one. A command invocation is first listed in
  the node's index (see indexOnNode), so a node's listing holds every invocation that has a
  record there.

    Input:
      KEYS[1] run record (hash)
      KEYS[2] node info (hash)
      KEYS[3] node boot triggers (hash)
      KEYS[4] node invocation index (sorted set)

      ARGV[1] retentionMs
      ARGV[2] mode: 'once' | 'timed'
      ARGV[3] histMax: history entries kept
      ARGV[4] histAgeMs: how long a history entry is kept
      ARGV[5] invokeId
      ARGV[6] boot trigger (JSON; '' = none)
      ARGV[7] createdMs ('' = not listed by node: a sent file)
      ARGV[8] cutoffMs: index entries older than this may be pruned
      ARGV[9] run key prefix: the node's run key without the invocation id

    Output:
      'Created'   the record was created now
      <status>    the record existed: its status, unchanged
]]
if ARGV[7] ~= '' then indexOnNode(KEYS[4], ARGV[7], ARGV[5], ARGV[8], ARGV[9]) end
local st = redis.call('HGET', KEYS[1], 'status')
if st then return st end
newRun(KEYS[1], ARGV[1])
if ARGV[2] == 'timed' then
  redis.call('HSET', KEYS[1], 'status', 'Scheduled', 'periodic', 1, 'timed', 1,
    'histMax', ARGV[3], 'histAgeMs', ARGV[4], 'skipped', 0)
  redis.call('PERSIST', KEYS[1])
  if ARGV[6] ~= '' then redis.call('HSET', KEYS[3], ARGV[5], ARGV[6]) end
else
  redis.call('HSET', KEYS[1], 'status', 'Pending')
  redis.call('HSET', KEYS[2], 'lastInvokedMs', NOW)
end
redis.call('HINCRBY', KEYS[2], 'invocationCount', 1)
return 'Created'
