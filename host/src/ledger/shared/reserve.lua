-- Check every charge of one decision and reserve all of them or none,
-- atomically (nothing else runs on the server in between). The same
-- arithmetic as the in-process ledger (host/src/ledger/mod.rs): integer
-- millionths, exact rolling windows (now - N, now], calendar windows keyed
-- by their period's start, idempotency by request id.
--
-- KEYS[1]  the request's index (hash: counter instance -> 1)
-- KEYS[2]  the index of live instances (sorted set scored by expiry)
-- KEYS[3]  this attempt's void mark: set when the caller gave up on it
--          (a timeout), so that a run that arrives late reserves nothing
-- KEYS[3k+1], KEYS[3k+2], KEYS[3k+3] for instance k = 1..: its entries
--          by time (sorted set), its entries (hash: request id ->
--          "units:status:settle_at_ms:attempt") and its meta (hash: total,
--          desc)
-- ARGV: now_ms, request id, hold (0/1), settle_at_ms, charge count,
--       attempt id, then
--       per charge: instance k, instance name, add, limit, rolling window
--       ms (0 for a calendar window), window end ms, escalate mark (-1:
--       none), expire at ms, descriptor JSON
-- Returns: { reserved (0/1), then per charge: before, duplicate (0/1),
--          retry after ms (-1: none) }, every number as a decimal string;
--          or { "void" } for an attempt its caller gave up on.

local PER = 9
local now = tonumber(ARGV[1])
local rid = ARGV[2]
local hold = ARGV[3] == '1'
local settle_at = tonumber(ARGV[4])
local n = tonumber(ARGV[5])
local attempt = ARGV[6]
if not (now and rid and settle_at and n and attempt) or #ARGV ~= 6 + n * PER
    or not string.match(attempt, '^%w+$') then
  return redis.error_reply('gavel: bad reserve arguments')
end
if redis.call('EXISTS', KEYS[3]) == 1 then return { 'void' } end

-- Check every argument before the first write: a script's writes are not
-- rolled back when it fails half-way.
local charges = {}
for i = 1, n do
  local b = 6 + (i - 1) * PER
  local c = {
    k = tonumber(ARGV[b + 1]), name = ARGV[b + 2], add = tonumber(ARGV[b + 3]),
    limit = tonumber(ARGV[b + 4]), win = tonumber(ARGV[b + 5]),
    end_ms = tonumber(ARGV[b + 6]), mark = tonumber(ARGV[b + 7]),
    expire = tonumber(ARGV[b + 8]), desc = ARGV[b + 9],
  }
  if not (c.k and c.add and c.limit and c.win and c.end_ms and c.mark and c.expire)
      or c.k < 1 or 3 + c.k * 3 > #KEYS then
    return redis.error_reply('gavel: bad charge arguments')
  end
  charges[i] = c
end

local function d(x) return string.format('%d', x) end
local function keys_of(k) return KEYS[3 * k + 1], KEYS[3 * k + 2], KEYS[3 * k + 3] end
local function units_of(v) return tonumber(string.match(v, '^(%-?%d+)')) or 0 end

-- Drop what left a rolling window: (now - N, now], so an entry at exactly
-- now - N is out. Calendar instances are per period and simply expire.
local trimmed = {}
local function trim(c)
  if trimmed[c.k] then return end
  trimmed[c.k] = true
  if c.win <= 0 then return end
  local z, e, m = keys_of(c.k)
  local cutoff = now - c.win
  while true do
    local old = redis.call('ZRANGEBYSCORE', z, '-inf', cutoff, 'LIMIT', 0, 1000)
    if #old == 0 then break end
    local freed = 0
    local vals = redis.call('HMGET', e, unpack(old))
    for j = 1, #old do
      if vals[j] then freed = freed + units_of(vals[j]) end
    end
    redis.call('ZREM', z, unpack(old))
    redis.call('HDEL', e, unpack(old))
    redis.call('HINCRBY', m, 'total', d(-freed))
  end
end

local function total_of(c)
  local _, _, m = keys_of(c.k)
  return tonumber(redis.call('HGET', m, 'total') or '0') or 0
end

-- When `need` more units fit under `limit` (Counter::retry_after).
local function retry_after(c, total, need)
  if need > c.limit then return -1 end
  local excess = total + need - c.limit
  if excess <= 0 then return -1 end
  if c.win <= 0 then return c.end_ms - now end
  local z, e = keys_of(c.k)
  local freed = 0
  local start = 0
  while true do
    local page = redis.call('ZRANGE', z, start, start + 999, 'WITHSCORES')
    if #page == 0 then return -1 end
    for j = 1, #page, 2 do
      local v = redis.call('HGET', e, page[j])
      if v then freed = freed + units_of(v) end
      if freed >= excess then
        local at = tonumber(page[j + 1]) + c.win - now
        if at < 0 then return -1 end
        return at
      end
    end
    start = start + 1000
  end
end

local out = { '0' }
local planned = {}
local adopted = {}
local fits = true
for i = 1, n do
  local c = charges[i]
  trim(c)
  local already = 0
  for _, p in ipairs(planned) do
    if p.k == c.k then already = already + p.add end
  end
  local total = total_of(c)
  local _, e = keys_of(c.k)
  local duplicate = redis.call('HEXISTS', e, rid) == 1
  local before = total + already
  out[#out + 1] = d(before)
  out[#out + 1] = duplicate and '1' or '0'
  out[#out + 1] = d(retry_after(c, total, c.add + already))
  if duplicate then
    adopted[#adopted + 1] = c
  else
    if before + c.add > c.limit then fits = false end
    if c.mark >= 0 and before + c.add > c.mark then hold = true end
    planned[#planned + 1] = c
  end
end
if not fits then return out end

local status = hold and 'h' or 'o'
local function extend(key, at)
  local t = redis.call('PEXPIRETIME', key)
  if t < at then redis.call('PEXPIREAT', key, at) end
end
for _, c in ipairs(planned) do
  local z, e, m = keys_of(c.k)
  local prev = redis.call('HGET', e, rid)
  local units = c.add + (prev and units_of(prev) or 0)
  redis.call('HSET', e, rid, d(units) .. ':' .. status .. ':' .. d(settle_at) .. ':' .. attempt)
  redis.call('ZADD', z, now, rid)
  redis.call('HINCRBY', m, 'total', d(c.add))
  redis.call('HSET', m, 'desc', c.desc)
  extend(z, c.expire)
  extend(e, c.expire)
  extend(m, c.expire)
  redis.call('HSET', KEYS[1], c.name, '1')
  extend(KEYS[1], c.expire)
  redis.call('ZADD', KEYS[2], 'GT', c.expire, c.name)
end
-- A retry that finds the request's entries takes them over: a void of
-- the attempt that made them no longer drops what this one relies on.
for _, c in ipairs(adopted) do
  local _, e = keys_of(c.k)
  local prev = redis.call('HGET', e, rid)
  if prev then
    local head = string.match(prev, '^(%-?%d+:[hof]:%-?%d+)')
    if head then redis.call('HSET', e, rid, head .. ':' .. attempt) end
  end
end
out[1] = (#planned > 0) and '1' or '0'
return out
