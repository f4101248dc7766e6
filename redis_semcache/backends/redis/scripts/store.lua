-- store: write (or replace) one entry with its TTL and bookkeeping, then evict
-- down to max_size, atomically.
--   KEYS[1..7]  partition keys (see _lib.lua)
--   ARGV[1..2]  entry key prefix, now
--   ARGV[3]     entry id
--   ARGV[4]     TTL in milliseconds, '' for none
--   ARGV[5]     expires_at (seconds, our clock), '' for none
--   ARGV[6]     max_size, '' for unbounded
--   ARGV[7]     eviction strategy: lru | lfu | fifo | ttl
--   ARGV[8]     at most this many evictions in this call
--   ARGV[9]     at most this many expired entries settled first when over max_size
--               (a few are settled on every store, so none linger)
--   ARGV[10..]  field, value pairs of the entry hash (seq is added here)
-- Returns {seq, evicted, overflow}: overflow is 1 when the cache is still above
-- max_size (the caller then runs trim.lua).  The new entry is never evicted.
local STORE_PRUNE = 2
settle_order()
prune(STORE_PRUNE)
local id = ARGV[3]
local key = PREFIX .. id
local seq = redis.call('INCR', SEQ)
-- Overwrite in place (one re-index, where DEL then HSET costs two): only the
-- optional fields the new entry lacks can be left over from the old one.
-- Storing without a TTL drops the exp member left by an earlier TTL, whether
-- or not the key still exists (it may have expired unsettled).
local drops_ttl = ARGV[4] == '' and redis.call('ZREM', Z_EXP, id) == 1
if redis.pcall('HLEN', key) ~= 0 then  -- 0: absent, a new entry (the common case)
  if not drops_ttl and redis.pcall('HGET', key, 'fmt') == FORMAT then
    local written = {}
    for i = 10, #ARGV, 2 do
      written[ARGV[i]] = true
    end
    local stale = {}
    for _, name in ipairs(OPTIONAL_FIELDS) do
      if not written[name] then
        stale[#stale + 1] = name
      end
    end
    if #stale > 0 then
      redis.call('HDEL', key, unpack(stale))
    end
  else  -- another type, a hash we did not write, or a TTL to drop: replace it whole
    redis.call('DEL', key)
  end
end
redis.call('HSET', key, 'seq', seq, unpack(ARGV, 10))
if ARGV[4] ~= '' then
  redis.call('PEXPIRE', key, ARGV[4])
  redis.call('ZADD', Z_EXP, ARGV[5], id)
end
redis.call('HDEL', ACC, id)
if redis.call('ZADD', Z_ORDER, order_score(ORDER, 0, NOW_TEXT, NOW_TEXT), id) == 1 then
  scope_count(id, 1)
end
count('sets', 1)

local evicted, overflow = 0, false
if ARGV[6] ~= '' and entry_count() > tonumber(ARGV[6]) then
  prune(tonumber(ARGV[9]))
  evicted, overflow = evict(tonumber(ARGV[6]), ARGV[7], id, tonumber(ARGV[8]))
end
return {seq, evicted, overflow and 1 or 0}
