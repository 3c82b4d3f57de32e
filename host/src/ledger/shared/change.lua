-- Change one request's reservations: set an entry to a new value, or drop
-- it, keeping each instance's total equal to the sum of its entries. An
-- entry that is gone (it left its window) is left alone.
--
-- KEYS[1]  the request's index (hash: counter instance -> 1)
-- KEYS[3k-1], KEYS[3k], KEYS[3k+1] for change k = 1..: the instance's
--          entries by time, entries and meta (as in reserve.lua)
-- ARGV: request id, then per change: instance name, new entry
--       ("units:status:settle_at_ms"; the attempt that made it is kept),
--       or "" to drop it
-- Returns the number of entries changed.

local rid = ARGV[1]
local n = (#ARGV - 1) / 2
if not rid or n ~= math.floor(n) or #KEYS ~= 1 + 3 * n then
  return redis.error_reply('gavel: bad change arguments')
end
for k = 1, n do
  local v = ARGV[2 * k + 1]
  if v ~= '' and not string.match(v, '^%-?%d+:[hof]:%-?%d+$') then
    return redis.error_reply('gavel: bad entry ' .. v)
  end
end
local function units_of(v) return tonumber(string.match(v, '^(%-?%d+)')) or 0 end
local changed = 0
for k = 1, n do
  local z, e, m = KEYS[3 * k - 1], KEYS[3 * k], KEYS[3 * k + 1]
  local name, next = ARGV[2 * k], ARGV[2 * k + 1]
  local prev = redis.call('HGET', e, rid)
  if prev then
    if next == '' then
      redis.call('HDEL', e, rid)
      redis.call('ZREM', z, rid)
      redis.call('HINCRBY', m, 'total', string.format('%d', -units_of(prev)))
      redis.call('HDEL', KEYS[1], name)
    else
      local attempt = string.match(prev, '^%-?%d+:[hof]:%-?%d+(:%w+)$') or ''
      redis.call('HSET', e, rid, next .. attempt)
      redis.call('HINCRBY', m, 'total', string.format('%d', units_of(next) - units_of(prev)))
    end
    changed = changed + 1
  end
end
return changed
