--[[
  The agent's report of a run's end: Running or Stopping -> its final status (see settle, which
  also announces RunFinished).

    Input:
      KEYS[1] run record (hash)
      KEYS[2] node active runs (set)
      KEYS[3] node stats (hash)
      KEYS[4] node event outbox (stream)

      ARGV[1] invokeId
      ARGV[2] agent instance
      ARGV[3] final status
      ARGV[4] exitCode ('' = none)
      ARGV[5] errorCode
      ARGV[6] errorInfo
      ARGV[7] output
      ARGV[8] dropped bytes
      ARGV[9] started: '1' = the command was started
      ARGV[10] the output's codec: '' = plain, 'br' = brotli (see output-codec.ts)
      ARGV[11] output digest (sha256 hex of the output before any codec, computed by the agent;
               '' = none)

    Output:
      <status>    the final status written ('Terminated' for a run stopped while running), or
                  the status found when the run is not this agent's or not running
      'Missing'   no record
]]
local st = redis.call('HGET', KEYS[1], 'status')
if redis.call('HGET', KEYS[1], 'agent') ~= ARGV[2] or (st ~= 'Running' and st ~= 'Stopping') then
  return st or 'Missing'
end
redis.call('HSET', KEYS[1], 'finishedMs', NOW, 'updatedMs', NOW,
  'errorCode', ARGV[5], 'errorInfo', ARGV[6], 'output', ARGV[7], 'dropped', ARGV[8],
  'outputCodec', ARGV[10], 'digest', ARGV[11] or '')
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'exitCode', ARGV[4]) end
if ARGV[9] ~= '1' then
  redis.call('HDEL', KEYS[1], 'startedMs')
  redis.call('HINCRBY', KEYS[1], 'repeats', -1)
end
redis.call('SREM', KEYS[2], ARGV[1])
-- Stopped while running: Terminated, even if the command ended by itself before the kill.
local final = ARGV[3]
if st == 'Stopping' then final = 'Terminated' end
settle(KEYS[1], final, true, KEYS[3], KEYS[4], ARGV[1])
return final
