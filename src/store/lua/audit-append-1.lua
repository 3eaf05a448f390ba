--[[
  Appends one audit event and trims the events older than the retention, by Redis's clock
  (the entry id's milliseconds are NOW, so a time range is an id range). Trimming is
  approximate (MINID ~): whole stream nodes only, at most 100 of them per append, so an append
  never does unbounded work; readers skip what is older than the retention but not yet trimmed.

    Input:
      KEYS[1] audit stream
      ARGV[1] retentionMs
      ARGV[2] the event (JSON)

    Output:
      <id>   the new entry's id (`<ms>-<seq>`)
]]
local oldest = string.format('%.0f', tonumber(NOW) - tonumber(ARGV[1]))
return redis.call('XADD', KEYS[1], 'MINID', '~', oldest, '*', 'e', ARGV[2])
