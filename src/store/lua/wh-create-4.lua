--[[
  Creates a webhook, unless there are already as many as allowed. Its events start after the
  newest event the stream holds now (fromId): the fan-out never gives it an earlier one. The
  first webhook also starts the fan-out's cursor there, so events from before any webhook
  existed are never copied.

    Input:
      KEYS[1] webhook ids (sorted set by creation time, {global})
      KEYS[2] the webhook's hash ({global})
      KEYS[3] the fan-out's cursor (string: the last event id copied, {global})
      KEYS[4] event stream ({global})

      ARGV[1] the most webhooks allowed
      ARGV[2] webhookId
      ARGV[3] url
      ARGV[4] event types, comma-separated
      ARGV[5] secret

    Output:
      'Created' | 'Full'
]]
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 'Full' end
local newest = redis.call('XREVRANGE', KEYS[4], '+', '-', 'COUNT', 1)
local fromId = '0-0'
if newest[1] then fromId = newest[1][1] end
if redis.call('EXISTS', KEYS[3]) == 0 then redis.call('SET', KEYS[3], fromId) end
redis.call('HSET', KEYS[2], 'url', ARGV[3], 'types', ARGV[4], 'secret', ARGV[5],
  'createdMs', NOW, 'fromId', fromId)
redis.call('ZADD', KEYS[1], NOW, ARGV[2])
return 'Created'
