--[[
  Announces a new invocation (InvocationCreated) in the event stream, once: a ClientToken retry
  or a dispatch that finishes a creation cut short calls it again and adds nothing. Starts the
  invocation's progress (how many of its nodes' runs are still to end, for InvocationFinished:
  see ev-relay-3.lua) before any of its runs exists, so no run's end is relayed before it.

    Input:
      KEYS[1] event stream ({global})
      KEYS[2] the invocation's event progress (hash, {global})

      ARGV[1] the stream's length bound (XADD MAXLEN ~)
      ARGV[2] retentionMs: how long the progress is kept
      ARGV[3] nodeCount: runs to end before InvocationFinished ('' = not tracked: a timed
              invocation, whose schedule may fire again)
      ARGV[4] timeMs: when it was created
      ARGV[5] Data (JSON)

    Output:
      <id>   the event's stream id
      ''     announced before; nothing changes
]]
if redis.call('HSETNX', KEYS[2], 'created', NOW) == 0 then return '' end
if ARGV[3] ~= '' then redis.call('HSET', KEYS[2], 'left', ARGV[3]) end
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'type', 'InvocationCreated',
  'time', ARGV[4], 'data', ARGV[5])
