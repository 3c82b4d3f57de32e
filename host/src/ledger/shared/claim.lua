-- Resolve a fleet-visible escalation: the first resolution wins, on
-- whichever node it arrives.
--
-- KEYS[1]  the escalation (hash: record, status, resolution)
-- ARGV: the new status, the resolution JSON
-- Returns { "none" } (unknown here), { "taken", status, resolution }
-- (someone resolved it first), or { "ok", record }.

local status, resolution = ARGV[1], ARGV[2]
if not (status and resolution) then
  return redis.error_reply('gavel: bad claim arguments')
end
if redis.call('EXISTS', KEYS[1]) == 0 then return { 'none' } end
local now = redis.call('HGET', KEYS[1], 'status')
if now ~= 'pending' then
  return { 'taken', now or '', redis.call('HGET', KEYS[1], 'resolution') or '' }
end
redis.call('HSET', KEYS[1], 'status', status, 'resolution', resolution)
return { 'ok', redis.call('HGET', KEYS[1], 'record') or '' }
