--[[
  Deletes a webhook with its backlog and delivery log. The last one also drops the fan-out's
  cursor, so no event is copied (or read) while no webhook exists.

    Input:
      KEYS[1] webhook ids (sorted set, {global})
      KEYS[2] the webhook's hash
      KEYS[3] the fan-out's cursor
      KEYS[4] the webhook's backlog (stream)
      KEYS[5] the webhook's delivery log (stream)

      ARGV[1] webhookId

    Output:
      1 deleted, 0 there was no such webhook
]]
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('DEL', KEYS[2], KEYS[4], KEYS[5])
if redis.call('ZCARD', KEYS[1]) == 0 then redis.call('DEL', KEYS[3]) end
return 1
