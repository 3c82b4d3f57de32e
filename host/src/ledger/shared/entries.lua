-- One request's reservations, read in one round trip.
--
-- KEYS[1]  the request's index (hash: counter instance -> 1)
-- ARGV[1]  the request id; ARGV[2] the key prefix of instances
-- Returns a flat list: per instance, its name, its entry
-- ("units:status:settle_at_ms"), its time (ms) and its descriptor JSON.
-- Instances whose entry is gone are skipped.

local rid, prefix = ARGV[1], ARGV[2]
local out = {}
local names = redis.call('HKEYS', KEYS[1])
for _, name in ipairs(names) do
  local v = redis.call('HGET', prefix .. 'e:' .. name, rid)
  if v then
    local t = redis.call('ZSCORE', prefix .. 'z:' .. name, rid)
    local desc = redis.call('HGET', prefix .. 'm:' .. name, 'desc')
    out[#out + 1] = name
    out[#out + 1] = v
    out[#out + 1] = t or '0'
    out[#out + 1] = desc or ''
  end
end
return out
