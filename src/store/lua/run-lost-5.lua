--[[
  A run on a lost node (its agent silent past FLEETCMD_NODE_LOST_SECONDS): Running -> Error,
  Stopping -> Terminated, with the given error. Only while the node is still as silent as the
  scheduler saw it: a heartbeat or a registration since then (the agent came back) leaves the
  run to the agent. The run stays in the node's active set: an agent that comes back on the same
  boot finds it there and kills what is left of it (its restart cleanup takes it out).

    Input:
      KEYS[1] run record (hash)
      KEYS[2] node active runs (set)
      KEYS[3] node stats (hash)
      KEYS[4] node info (hash)
      KEYS[5] node event outbox (stream)

      ARGV[1] invokeId
      ARGV[2] the node's last heartbeat (else registration) time the scheduler judged, ms
      ARGV[3] errorCode
      ARGV[4] errorInfo

    Output:
      'Ended Error'        was Running; ended now
      'Ended Terminated'   was Stopping; ended now
      'Alive'              the node was heard from since; nothing changes
      'Missing'            no record (expired): dropped from the active set
      <status>             any other status found, unchanged
]]
local st = redis.call('HGET', KEYS[1], 'status')
if not st then
  redis.call('SREM', KEYS[2], ARGV[1])
  return 'Missing'
end
local seen = redis.call('HGET', KEYS[4], 'lastHeartbeatMs') or
  redis.call('HGET', KEYS[4], 'registeredMs') or ''
if seen ~= ARGV[2] then return 'Alive' end
local final
if st == 'Running' then
  final = 'Error'
elseif st == 'Stopping' then
  final = 'Terminated'
else
  return st
end
redis.call('HSET', KEYS[1], 'finishedMs', NOW, 'updatedMs', NOW,
  'errorCode', ARGV[3], 'errorInfo', ARGV[4])
settle(KEYS[1], final, true, KEYS[3], KEYS[5], ARGV[1])
return 'Ended ' .. final
