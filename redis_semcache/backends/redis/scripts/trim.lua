-- trim: evict down to max_size (after max_size was lowered, or when a store
-- hit its per-call eviction limit).
--   KEYS[1..7]  partition keys (see _lib.lua)
--   ARGV[1..2]  entry key prefix, now
--   ARGV[3]     max_size
--   ARGV[4]     eviction strategy: lru | lfu | fifo | ttl
--   ARGV[5]     at most this many evictions in this call
--   ARGV[6]     at most this many expired entries settled first
-- Returns {evicted, overflow}: overflow is 1 when another call is needed.
settle_order()
prune(tonumber(ARGV[6]))
local evicted, overflow = evict(tonumber(ARGV[3]), ARGV[4], nil, tonumber(ARGV[5]))
return {evicted, overflow and 1 or 0}
