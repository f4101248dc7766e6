-- store: write (or replace) entries in order, each with its TTL and
-- bookkeeping, evicting down to max_size after each, atomically.  One entry
-- for set(); a chunk of store_many's (one script call instead of one per
-- entry: the partition keys, settings and the settling below are sent and run
-- once per chunk, not per entry).
--   KEYS[1..7]  partition keys (see _lib.lua)
--   ARGV[1..2]  entry key prefix, now
--   ARGV[3]     max_size, '' for unbounded
--   ARGV[4]     eviction strategy: lru | lfu | fifo | ttl
--   ARGV[5]     at most this many evictions per entry
--   ARGV[6]     at most this many expired entries settled first when over max_size
--               (a few are settled on every call, so none linger)
--   ARGV[7..]   one record per entry, a MessagePack array (store_record.py):
--               id, now, TTL in milliseconds ('' for none), expires_at
--               (seconds, our clock; '' for none), then the field, value pairs
--               of the entry hash (seq is added here)
-- Returns {seq of the first entry, evicted, overflow}: overflow is 1 when the
-- cache is still above max_size (the caller then runs trim.lua).  An entry is
-- never evicted by its own store.
local STORE_PRUNE = 2
settle_order()
prune(STORE_PRUNE)
local max_size = ARGV[3] ~= '' and tonumber(ARGV[3]) or nil
local first_seq, evicted, stored = nil, 0, 0
for at = 7, #ARGV do
  local r = cmsgpack.unpack(ARGV[at])
  local id, now_text, ttl_ms, expires_at = r[1], r[2], r[3], r[4]
  local key = PREFIX .. id
  local seq = redis.call('INCR', SEQ)
  first_seq = first_seq or seq
  -- Overwrite in place (one re-index, where DEL then HSET costs two): only the
  -- optional fields the new entry lacks can be left over from the old one.
  -- Storing without a TTL drops the exp member left by an earlier TTL, whether
  -- or not the key still exists (it may have expired unsettled).
  local drops_ttl = ttl_ms == '' and redis.call('ZREM', Z_EXP, id) == 1
  if redis.pcall('HLEN', key) ~= 0 then  -- 0: absent, a new entry (the common case)
    if not drops_ttl and redis.pcall('HGET', key, 'fmt') == FORMAT then
      local written = {}
      for i = 5, #r, 2 do
        written[r[i]] = true
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
  redis.call('HSET', key, 'seq', seq, unpack(r, 5))
  if ttl_ms ~= '' then
    redis.call('PEXPIRE', key, ttl_ms)
    redis.call('ZADD', Z_EXP, expires_at, id)
  end
  redis.call('HDEL', ACC, id)
  if redis.call('ZADD', Z_ORDER, order_score(ORDER, 0, now_text, now_text), id) == 1 then
    scope_count(id, 1)
  end
  stored = stored + 1
  if max_size and entry_count() > max_size then
    prune(tonumber(ARGV[6]))
    evicted = evicted + evict(max_size, ARGV[4], id, tonumber(ARGV[5]))
  end
end
count('sets', stored)
local overflow = max_size ~= nil and entry_count() > max_size
return {first_seq or 0, evicted, overflow and 1 or 0}
