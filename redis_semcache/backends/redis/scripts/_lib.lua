-- _lib.lua: helpers shared by every script.  The loader (scripts/__init__.py)
-- puts this file in front of each script, so each script is one self-contained
-- text registered once and called by SHA; the part between ">>> readers" and
-- "<<< readers" only in front of the scripts that read entries back.
--
-- Every script receives one cache partition's keys, in this order:
--   KEYS[1] zset order  every entry, in the eviction order of the caller's strategy;
--                       its name ends in the order: z:lru (id -> last_access),
--                       z:lfu (id -> hits + recency fraction, see LFU_TIME_SCALE)
--                       or z:fifo (id -> created_at; strategies fifo and ttl)
--   KEYS[2] hash acc    entry id -> "hits last_access", for entries hit at least once
--   KEYS[3] (spare: the order zset again, so script-specific keys start at KEYS[8])
--   KEYS[4] zset exp    entry id -> expires_at (entries with a TTL only)
--   KEYS[5] hash stats  shared counters
--   KEYS[6] string seq  write sequence number
--   KEYS[7] hash scopes scope id -> number of entries (sizes the KNN pre-filter)
-- and ARGV[1] = entry key prefix, ARGV[2] = now (seconds, from the backend's clock).
-- Entry keys are ARGV[1] .. id: they share the partition's hash tag, so they sit
-- in the same cluster slot as KEYS.
--
-- Only one order zset exists at a time.  When the strategy changed (here or in
-- another process), the next store, trim, report or top moves every entry into
-- the new one (settle_order).  Hits never write to the entry hash: RediSearch
-- re-indexes the whole document on any HSET, so access counts live in acc.
--
-- Times are the backend's clock (injectable); only the TTL itself is the
-- server's (PEXPIRE, relative), so clock skew cannot shorten or extend it.

local Z_ORDER, ACC, Z_EXP, STATS, SEQ, SCOPES = KEYS[1], KEYS[2], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local Z_BASE, ORDER = string.match(Z_ORDER, '^(.*:z:)(%a+)$')
local ORDERS = {'fifo', 'lru', 'lfu'}
local SCOPE_ID_LEN = 16
local PREFIX = ARGV[1]
local NOW_TEXT = ARGV[2]
local NOW = tonumber(ARGV[2])

local FORMAT = '1'
local ENTRY_FIELDS = {
  'fmt', 'prompt', 'response', 'kind', 'model', 'namespace', 'scope', 'tags', 'version', 'created_at', 'ttl', 'seq'
}
-- Fields a store leaves out when they hold their default (codec.encode_entry);
-- replacing an entry deletes those the new one lacks.
local OPTIONAL_FIELDS = {'kind', 'model', 'namespace', 'tags', 'tag_h', 'ttl', 'embedding'}
local LFU_TIME_SCALE = 1e10

-- Lua's tostring keeps 14 digits; scores need all 17.
local function num(x)
  return string.format('%.17g', x)
end

local function recency(t)
  local f = t / LFU_TIME_SCALE
  if f < 0 then return 0 end
  if f > 0.999999 then return 0.999999 end
  return f
end

local function count(field, n)
  if n ~= 0 then
    redis.call('HINCRBY', STATS, field, n)
  end
end

-- Entry ids start with their scope id; SCOPES counts the members of Z_ORDER per scope.
local function scope_count(id, delta)
  local scope = string.sub(id, 1, SCOPE_ID_LEN)
  if redis.call('HINCRBY', SCOPES, scope, delta) <= 0 then
    redis.call('HDEL', SCOPES, scope)
  end
end

local function forget(id)
  if redis.call('ZREM', Z_ORDER, id) == 1 then
    scope_count(id, -1)
  end
  redis.call('HDEL', ACC, id)
  redis.call('ZREM', Z_EXP, id)
end

-- The number of entries.
local function entry_count()
  return redis.call('ZCARD', Z_ORDER)
end

-- Settle up to `limit` entries whose expiry time has passed on our clock.
-- Gone on the server: forget them and count an expiration.  Still alive there
-- (our clock runs ahead of the server's): re-score them from the server's TTL.
-- Returns true when more may be due.  One O(log n) read when nothing is due.
local function prune(limit)
  local due = redis.call('ZRANGE', Z_EXP, '-inf', NOW_TEXT, 'BYSCORE', 'LIMIT', 0, limit)
  local expired = 0
  for _, id in ipairs(due) do
    local pttl = redis.call('PTTL', PREFIX .. id)
    if pttl == -2 then
      forget(id)
      expired = expired + 1
    elseif pttl == -1 then
      redis.call('ZREM', Z_EXP, id)
    else
      redis.call('ZADD', Z_EXP, num(NOW + pttl / 1000), id)
    end
  end
  count('expirations', expired)
  return #due >= limit
end

-- Hits and last access of an entry: from acc, or 0 and `created_at` when never hit.
local function access(id, created_at)
  local a = redis.call('HGET', ACC, id)
  if a then
    local hits, last = string.match(a, '^(%d+) (.+)$')
    return tonumber(hits), last
  end
  return 0, created_at
end

-- An entry's score in order zset `order`.
local function order_score(order, hits, last, created_at)
  if order == 'lru' then
    return last
  elseif order == 'lfu' then
    return num(hits + recency(tonumber(last)))
  end
  return created_at
end

-- >>> readers: helpers of the scripts that read entries back (READERS in
-- scripts/__init__.py); the loader leaves this part out of the others, since
-- every function defined here is built again on each call of a script.

-- Positions in ENTRY_FIELDS (a unit test checks them against the list).
local I_VERSION, I_TTL, I_SEQ = 9, 11, 12
local I_CREATED_AT = 10

local function ms(seconds)
  return math.max(1, math.floor(seconds * 1000 + 0.5))
end

-- An entry's fields (ENTRY_FIELDS order), or nil when the key is not one of
-- our entry hashes (absent, another type, or written by someone else).
local function read(id)
  local v = redis.pcall('HMGET', PREFIX .. id, unpack(ENTRY_FIELDS))
  if type(v) ~= 'table' or v.err or v[1] ~= FORMAT then
    return nil
  end
  return v
end

-- The reply form of an entry: {id, ENTRY_FIELDS values..., last_access, hits, exp}.
local function as_record(id, v, lru, lfu, exp)
  local out = {id}
  for i = 1, #ENTRY_FIELDS do
    out[#out + 1] = v[i]
  end
  out[#out + 1] = lru
  out[#out + 1] = lfu
  out[#out + 1] = exp
  return out
end

-- A hit's reply, {status, dist, record...}, in one table constructor: as_record
-- and two table.inserts at the front cost a few microseconds more on every hit.
-- HMGET gives false, never nil, for an absent field, so no value leaves a hole.
-- v[1] .. v[12]: every ENTRY_FIELDS value (a unit test checks the count).
local function hit_record(status, dist, id, v, lru, lfu, exp)
  return {status, dist, id, v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11], v[12], lru, lfu, exp}
end

-- The record of an entry without touching it, or nil.
local function record(id)
  local v = read(id)
  if not v then
    return nil
  end
  local hits, last = access(id, v[I_CREATED_AT])
  return as_record(id, v, last, hits, redis.call('ZSCORE', Z_EXP, id))
end

-- Hit bookkeeping for entry `id` whose fields are `v`: hit count and last
-- access (acc), its place in the order zset, and (sliding TTL) a fresh expiry.
-- The hash itself stays untouched, so RediSearch does not re-index the entry.
-- Returns the new last access, hits and exp score.
local function touch(id, v, sliding)
  local hits = access(id, nil) + 1
  redis.call('HSET', ACC, id, hits .. ' ' .. NOW_TEXT)
  if ORDER ~= 'fifo' then  -- XX: while another order zset is still being replaced, add nothing
    redis.call('ZADD', Z_ORDER, 'XX', order_score(ORDER, hits, NOW_TEXT, nil), id)
  end
  local ttl = tonumber(v[I_TTL])
  if sliding and ttl then
    local exp = num(NOW + ttl)
    redis.call('PEXPIRE', PREFIX .. id, ms(ttl))
    redis.call('ZADD', Z_EXP, exp, id)
    return NOW_TEXT, hits, exp
  end
  return NOW_TEXT, hits, redis.call('ZSCORE', Z_EXP, id)
end

-- A read's bookkeeping (hit count, order, a sliding TTL, the hit counter) is
-- optional: with maxmemory and noeviction a full Redis refuses every write
-- that needs memory, and the entry must still be served.  Returns whether the
-- bookkeeping was done, and the last access, hits and exp the record reports.
local function touch_if_possible(id, v, sliding, counter)
  local ok, lru, lfu, exp = pcall(touch, id, v, sliding)
  if ok then
    pcall(count, counter, 1)
    return true, lru, lfu, exp
  end
  local hits, last = access(id, v[I_CREATED_AT])
  return false, last, hits, redis.call('ZSCORE', Z_EXP, id)
end

-- A counter a read keeps, skipped when the server refuses the write (see above).
local function count_if_possible(field, n)
  return pcall(count, field, n)
end

-- Reply status of a hit: 1, or 3 when its bookkeeping was refused (counted by the caller).
local function hit_status(booked)
  if booked then return 1 end
  return 3
end

-- <<< readers

-- Move the entries of any other order zset (left by another strategy, or by
-- the layout before schema 2, which kept all three) into Z_ORDER, scored from
-- acc and the entry hashes, then delete it and recount SCOPES.  O(n), once per
-- strategy change; a single EXISTS of both other orders when there is nothing to do.
local function settle_order()
  local candidates = {}
  for _, order in ipairs(ORDERS) do
    if order ~= ORDER then
      candidates[#candidates + 1] = Z_BASE .. order
    end
  end
  if redis.call('EXISTS', unpack(candidates)) == 0 then
    return
  end
  local others = {}
  for _, order in ipairs(ORDERS) do
    if order ~= ORDER and redis.call('EXISTS', Z_BASE .. order) == 1 then
      others[#others + 1] = order
    end
  end
  -- The layout before schema 2 kept hits only in z:lfu (and last access in z:lru).
  local old_lfu, old_lru = Z_BASE .. 'lfu', Z_BASE .. 'lru'
  local rows = redis.call('ZRANGE', old_lfu, 1, '+inf', 'BYSCORE', 'WITHSCORES')
  for i = 1, #rows, 2 do
    local id, score = rows[i], tonumber(rows[i + 1])
    if not redis.call('HGET', ACC, id) then
      local last = redis.call('ZSCORE', old_lru, id) or num((score % 1) * LFU_TIME_SCALE)
      redis.call('HSET', ACC, id, math.floor(score) .. ' ' .. last)
    end
  end
  for _, order in ipairs(others) do
    local ids = redis.call('ZRANGE', Z_BASE .. order, 0, -1)
    for _, id in ipairs(ids) do
      local created_at = redis.call('HGET', PREFIX .. id, 'created_at')
      if created_at and not redis.call('ZSCORE', Z_ORDER, id) then
        local hits, last = access(id, created_at)
        redis.call('ZADD', Z_ORDER, order_score(ORDER, hits, last, created_at), id)
      end
    end
  end
  for _, order in ipairs(others) do
    redis.call('DEL', Z_BASE .. order)
  end
  redis.call('DEL', SCOPES)
  local ids = redis.call('ZRANGE', Z_ORDER, 0, -1)
  for _, id in ipairs(ids) do
    redis.call('HINCRBY', SCOPES, string.sub(id, 1, SCOPE_ID_LEN), 1)
  end
end

local function victim(strategy, protect)
  local order = {Z_ORDER}
  if strategy == 'ttl' then
    order = {Z_EXP, Z_ORDER}
  end
  for _, z in ipairs(order) do
    for _, id in ipairs(redis.call('ZRANGE', z, 0, 1)) do
      if id ~= protect then
        return id
      end
    end
  end
  return nil
end

-- Evict by `strategy` until at most `max_size` entries remain, at most `limit`
-- victims per call, never `protect` (the entry being written).
-- Returns the number evicted and whether the cache is still over max_size.
local function evict(max_size, strategy, protect, limit)
  local evicted, expired, n = 0, 0, 0
  while n < limit and entry_count() > max_size do
    local id = victim(strategy, protect)
    if not id then
      break
    end
    if redis.call('DEL', PREFIX .. id) == 1 then
      evicted = evicted + 1
    else
      expired = expired + 1
    end
    forget(id)
    n = n + 1
  end
  count('evictions', evicted)
  count('expirations', expired)
  return evicted, entry_count() > max_size
end
