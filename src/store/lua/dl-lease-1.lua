--[[
  Leases the delivery deadlines that are due: each one returned is scored again at the lease's
  end, so no other scheduler replica takes it meanwhile, and one whose replica dies before it
  removes it is due again when the lease ends (retried, never lost). The deadline's work is a
  compare-and-set on each node's record, so a lease that ran out under a slow replica costs a
  second check, never a second abort.

    Input:
      KEYS[1] delivery deadlines (sorted set, {global}: member = the deadline, score = due ms)

      ARGV[1] nowMs: the leasing replica's clock (the adding servers' clocks set the scores)
      ARGV[2] leaseMs: how long a leased deadline is left to this replica
      ARGV[3] max: the most deadlines leased in one call (up to a few thousand: one ZADD takes them)

    Output:
      {member, ...}   the deadlines leased now (empty when none is due)
]]
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
if #due == 0 then return due end
local untilMs = string.format('%.0f', tonumber(ARGV[1]) + tonumber(ARGV[2]))
local args = {}
for _, member in ipairs(due) do
  args[#args + 1] = untilMs
  args[#args + 1] = member
end
redis.call('ZADD', KEYS[1], 'XX', unpack(args))
return due
