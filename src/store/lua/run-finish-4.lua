--[[
  The agent's report of a run's end: Running or Stopping -> its final status (see settle, which
  also announces RunFinished). Also a run this agent armed ahead of its slot (run-claim-3.lua)
  and never started (Pending: the content was invalid or the spawn failed; Stopping: stopped
  after the slot, before the agent's read at the slot, so it is Cancelled).

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
local r = redis.call('HMGET', KEYS[1], 'status', 'agent', 'startedMs')
local st = r[1]
if r[2] ~= ARGV[2] or (st ~= 'Running' and st ~= 'Stopping' and st ~= 'Pending') then
  return st or 'Missing'
end
redis.call('HSET', KEYS[1], 'finishedMs', NOW, 'updatedMs', NOW,
  'errorCode', ARGV[5], 'errorInfo', ARGV[6], 'output', ARGV[7], 'dropped', ARGV[8],
  'outputCodec', ARGV[10], 'digest', ARGV[11] or '')
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'exitCode', ARGV[4]) end
-- A claim made Running counted a start (startedMs, repeats) that an armed run had not made.
if ARGV[9] ~= '1' and r[3] then
  redis.call('HDEL', KEYS[1], 'startedMs')
  redis.call('HINCRBY', KEYS[1], 'repeats', -1)
end
redis.call('SREM', KEYS[2], ARGV[1])
-- Stopped while running: Terminated, even if the command ended by itself before the kill; an
-- armed run stopped before its start was recorded never started: Cancelled.
local final = ARGV[3]
if st == 'Stopping' then final = r[3] and 'Terminated' or 'Cancelled' end
settle(KEYS[1], final, true, KEYS[3], KEYS[4], ARGV[1])
return final
