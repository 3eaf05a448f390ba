--[[
  One fire of a timed invocation on one node: moves a Scheduled record to Pending for this fire.

    Input:
      KEYS[1] run record (hash)
      KEYS[2] node info (hash)
      KEYS[3] node event outbox (stream): every fire counted as skipped is announced there
              (FireSkipped)

      ARGV[1] fireId
      ARGV[2] fireMs ('' for a boot)
      ARGV[3] final: '1' = the schedule has no fire after this one
      ARGV[4] invokeId
      ARGV[5] passedOverMs: the slot (ms) of a fire job taken late that this later fire stands
              in for ('' for none): it counts as skipped too, unless the record saw that slot
              (or a later one) already: a retried job whose first attempt fired it here
      ARGV[6] '1' = a delivery ahead of the slot (the scheduler's, up to 1.5 s early): a
              record that is not Scheduled is left exactly as it is ('Busy'), and the agent
              calls this script at the slot with '2', where the busy/skip decision is taken;
              '2' also counts a fire older than one seen as skipped (a later fire's delivery
              came first: the agent was late) instead of 'Stale'

    Output:
      'Fired'            moved to Pending for this fire
      'Already'          this fire was taken before (a retried fire job: enqueue its job again)
      'Waiting <fire>'   the run of an older fire has not started and its job may have been
                         lost: enqueue that fire's job again (the claim lets it run at most
                         once); counts as skipped
      'Skipped'          the previous run is still running; counts as skipped
      'Ended'            the schedule has ended on this node; nothing changes
      'Stale'            older than a fire already seen; nothing changes
      'Missing'          no record; nothing changes
      'Busy'             (ARGV[6] only) the previous run has not ended yet; nothing changes
      'Fired', 'Waiting <fire>' and 'Skipped' end in ' passedOver' when this call counted the
      slot of ARGV[5] as skipped
]]
local st = redis.call('HGET', KEYS[1], 'status')
if not st then return 'Missing' end
if redis.call('HGET', KEYS[1], 'fire') == ARGV[1] then return 'Already' end
if redis.call('HGET', KEYS[1], 'timed') ~= '1' then return 'Ended' end
local counted = ''
if ARGV[2] ~= '' then
  local last = tonumber(redis.call('HGET', KEYS[1], 'seenFireMs') or '0') or 0
  if tonumber(ARGV[2]) <= last then
    if ARGV[6] ~= '2' then return 'Stale' end
    redis.call('HINCRBY', KEYS[1], 'skipped', 1)
    redis.call('HSET', KEYS[1], 'lastSkippedMs', NOW)
    emit(KEYS[3], 'FireSkipped', {InvokeId = ARGV[4], Fire = ARGV[1], Reason = 'Superseded'})
    return 'Skipped'
  end
  if ARGV[6] == '1' and st ~= 'Scheduled' then return 'Busy' end
  redis.call('HSET', KEYS[1], 'seenFireMs', ARGV[2])
  local passedOverMs = tonumber(ARGV[5] or '')
  if passedOverMs and last < passedOverMs then
    -- The fire job's own slot, passed over for this later one (its job was taken late), and
    -- never seen here.
    redis.call('HINCRBY', KEYS[1], 'skipped', 1)
    redis.call('HSET', KEYS[1], 'lastSkippedMs', NOW)
    emit(KEYS[3], 'FireSkipped', {InvokeId = ARGV[4], Fire = ARGV[1], Reason = 'PassedOver'})
    counted = ' passedOver'
  end
end
if ARGV[3] == '1' then
  -- The last fire: the record no longer lives as long as the schedule, only its retention.
  redis.call('HSET', KEYS[1], 'timed', 0)
  local retentionMs = redis.call('HGET', KEYS[1], 'retentionMs')
  if retentionMs then redis.call('PEXPIRE', KEYS[1], retentionMs) end
end
if st ~= 'Scheduled' then
  redis.call('HINCRBY', KEYS[1], 'skipped', 1)
  redis.call('HSET', KEYS[1], 'lastSkippedMs', NOW)
  emit(KEYS[3], 'FireSkipped', {InvokeId = ARGV[4], Fire = ARGV[1],
    Reason = st == 'Pending' and 'PreviousRunPending' or 'PreviousRunNotFinished'})
  if st == 'Pending' then
    return 'Waiting ' .. (redis.call('HGET', KEYS[1], 'fire') or '') .. counted
  end
  return 'Skipped' .. counted
end
redis.call('HDEL', KEYS[1], 'startedMs', 'finishedMs', 'stoppedMs', 'exitCode', 'errorCode',
  'errorInfo', 'output', 'outputCodec', 'claim', 'agent', 'pgid', 'scriptDir', 'bootId',
  'fireMs', 'digest')
redis.call('HSET', KEYS[1], 'status', 'Pending', 'fire', ARGV[1], 'firedMs', NOW,
  'updatedMs', NOW, 'dropped', 0)
if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'fireMs', ARGV[2]) end
redis.call('HSET', KEYS[2], 'lastInvokedMs', NOW)
return 'Fired' .. counted
