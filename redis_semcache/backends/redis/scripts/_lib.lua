-- _lib.lua: helpers shared by every script.  The loader (scripts/__init__.py)
-- puts this file in front of each script, so each script is one self-contained
-- text registered once and called by SHA.
--
-- Every script receives one cache partition's keys, in this order:
--   KEYS[1] zset fifo   entry id -> created_at (also: the list of our entries)
--   KEYS[2] zset lru    entry id -> last_access
--   KEYS[3] zset lfu    entry id -> hits + recency fraction (see LFU_TIME_SCALE)
--   KEYS[4] zset exp    entry id -> expires_at (entries with a TTL only)
--   KEYS[5] hash stats  shared counters
--   KEYS[6] string seq  write sequence number
--   KEYS[7] hash scopes scope id -> number of entries (sizes the KNN pre-filter)
-- and ARGV[1] = entry key prefix, ARGV[2] = now (seconds, from the backend's clock).
-- Entry keys are ARGV[1] .. id: they share the partition's hash tag, so they sit
-- in the same cluster slot as KEYS.
--
-- Times are the backend's clock (injectable); only the TTL itself is the
-- server's (PEXPIRE, relative), so clock skew cannot shorten or extend it.

local Z_FIFO, Z_LRU, Z_LFU, Z_EXP, STATS, SEQ, SCOPES = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local SCOPE_ID_LEN = 16
local PREFIX = ARGV[1]
local NOW_TEXT = ARGV[2]
local NOW = tonumber(ARGV[2])

local FORMAT = '1'
local ENTRY_FIELDS = {
  'fmt', 'prompt', 'response', 'kind', 'model', 'namespace', 'scope', 'tags', 'version', 'created_at', 'ttl', 'seq'
}
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

-- Entry ids start with their scope id; SCOPES counts the members of Z_FIFO per scope.
local function scope_count(id, delta)
  local scope = string.sub(id, 1, SCOPE_ID_LEN)
  if redis.call('HINCRBY', SCOPES, scope, delta) <= 0 then
    redis.call('HDEL', SCOPES, scope)
  end
end

local function forget(id)
  if redis.call('ZREM', Z_FIFO, id) == 1 then
    scope_count(id, -1)
  end
  redis.call('ZREM', Z_LRU, id)
  redis.call('ZREM', Z_LFU, id)
  redis.call('ZREM', Z_EXP, id)
end

-- Settle up to `limit` entries whose expiry time has passed on our clock.
-- Gone on the server: forget them and count an expiration.  Still alive there
-- (our clock runs ahead of the server's): re-score them from the server's TTL.
-- Returns true when more may be due.
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

-- Positions in ENTRY_FIELDS (a unit test checks them against the list).
local I_VERSION, I_TTL, I_SEQ = 9, 11, 12

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

-- The reply form of an entry: {id, ENTRY_FIELDS values..., lru, lfu, exp}.
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

-- The record of an entry without touching it, or nil.
local function record(id)
  local v = read(id)
  if not v then
    return nil
  end
  return as_record(id, v, redis.call('ZSCORE', Z_LRU, id), redis.call('ZSCORE', Z_LFU, id),
    redis.call('ZSCORE', Z_EXP, id))
end

-- Hit bookkeeping for entry `id` whose fields are `v`: last access, hit count
-- and (sliding TTL) a fresh expiry.  Only zsets and the key's TTL change: the
-- hash itself stays untouched, so RediSearch does not re-index the entry.
-- Returns the new lru, lfu and exp scores.
local function touch(id, v, sliding)
  redis.call('ZADD', Z_LRU, NOW_TEXT, id)
  local hits = math.floor(tonumber(redis.call('ZSCORE', Z_LFU, id) or '0')) + 1
  local lfu = num(hits + recency(NOW))
  redis.call('ZADD', Z_LFU, lfu, id)
  local ttl = tonumber(v[I_TTL])
  if sliding and ttl then
    local exp = num(NOW + ttl)
    redis.call('PEXPIRE', PREFIX .. id, ms(ttl))
    redis.call('ZADD', Z_EXP, exp, id)
    return NOW_TEXT, lfu, exp
  end
  return NOW_TEXT, lfu, redis.call('ZSCORE', Z_EXP, id)
end

-- A read's bookkeeping (LRU/LFU scores, a sliding TTL, the hit counter) is
-- optional: with maxmemory and noeviction a full Redis refuses every write
-- that needs memory, and the entry must still be served.  Returns whether the
-- bookkeeping was done, and the scores the record reports.
local function touch_if_possible(id, v, sliding, counter)
  local ok, lru, lfu, exp = pcall(touch, id, v, sliding)
  if ok then
    pcall(count, counter, 1)
    return true, lru, lfu, exp
  end
  return false, redis.call('ZSCORE', Z_LRU, id), redis.call('ZSCORE', Z_LFU, id), redis.call('ZSCORE', Z_EXP, id)
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

local VICTIM_ORDER = {lru = {Z_LRU}, lfu = {Z_LFU}, fifo = {Z_FIFO}, ttl = {Z_EXP, Z_FIFO}}

local function victim(strategy, protect)
  for _, z in ipairs(VICTIM_ORDER[strategy]) do
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
  while n < limit and redis.call('ZCARD', Z_FIFO) > max_size do
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
  return evicted, redis.call('ZCARD', Z_FIFO) > max_size
end
