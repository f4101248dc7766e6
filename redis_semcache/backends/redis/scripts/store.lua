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
--   ARGV[9]     at most this many expired entries settled first (see prune)
--   ARGV[10..]  field, value pairs of the entry hash (seq is added here)
-- Returns {seq, evicted, overflow}: overflow is 1 when the cache is still above
-- max_size (the caller then runs trim.lua).  The new entry is never evicted.
prune(tonumber(ARGV[9]))
local id = ARGV[3]
local key = PREFIX .. id
local seq = redis.call('INCR', SEQ)
redis.call('DEL', key)
redis.call('HSET', key, 'seq', seq, unpack(ARGV, 10))
if ARGV[4] ~= '' then
  redis.call('PEXPIRE', key, ARGV[4])
  redis.call('ZADD', Z_EXP, ARGV[5], id)
else
  redis.call('ZREM', Z_EXP, id)
end
if redis.call('ZADD', Z_FIFO, NOW_TEXT, id) == 1 then
  scope_count(id, 1)
end
redis.call('ZADD', Z_LRU, NOW_TEXT, id)
redis.call('ZADD', Z_LFU, num(recency(NOW)), id)
count('sets', 1)

local evicted, overflow = 0, false
if ARGV[6] ~= '' then
  evicted, overflow = evict(tonumber(ARGV[6]), ARGV[7], id, tonumber(ARGV[8]))
end
return {seq, evicted, overflow and 1 or 0}
