-- Void an attempt whose caller gave up on it (its reply never came): mark
-- it, so that a run still queued reserves nothing, and drop the entries it
-- made, unless a later attempt of the same request took them over.
--
-- KEYS[1]  the attempt's void mark
-- KEYS[2]  the request's index (hash: counter instance -> 1)
-- KEYS[3k], KEYS[3k+1], KEYS[3k+2] for instance k = 1..: its entries by
--          time, entries and meta (as in reserve.lua)
-- ARGV: request id, attempt id, how long the mark lives (ms), then the
--       instance names
-- Returns the number of entries dropped.

local rid, attempt, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])
local n = #ARGV - 3
if not (rid and attempt and ttl) or #KEYS ~= 2 + 3 * n then
  return redis.error_reply('gavel: bad void arguments')
end
redis.call('SET', KEYS[1], '1', 'PX', ttl)
local dropped = 0
for k = 1, n do
  local z, e, m = KEYS[3 * k], KEYS[3 * k + 1], KEYS[3 * k + 2]
  local prev = redis.call('HGET', e, rid)
  if prev and string.match(prev, ':(%w+)$') == attempt then
    local units = tonumber(string.match(prev, '^(%-?%d+)')) or 0
    redis.call('HDEL', e, rid)
    redis.call('ZREM', z, rid)
    redis.call('HINCRBY', m, 'total', string.format('%d', -units))
    redis.call('HDEL', KEYS[2], ARGV[3 + k])
    dropped = dropped + 1
  end
end
return dropped
