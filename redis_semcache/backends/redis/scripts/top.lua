-- top: the entries ranked highest by one zset (hits, last access or creation).
--   KEYS[1..7]  partition keys (see _lib.lua)
--   ARGV[1..2]  entry key prefix, now
--   ARGV[3]     'lfu' (hits, then recency), 'lru' (last access) or 'fifo' (creation)
--   ARGV[4]     how many entries
--   ARGV[5]     at most this many expired entries settled first
-- Returns {record, record, ...}, highest first; keys that vanished or hold
-- something we did not write are skipped.
prune(tonumber(ARGV[5]))
local z = ({lfu = Z_LFU, lru = Z_LRU, fifo = Z_FIFO})[ARGV[3]]
local limit = tonumber(ARGV[4])
local out = {}
local start = 0
while #out < limit do
  local ids = redis.call('ZRANGE', z, start, start + limit - 1, 'REV')
  if #ids == 0 then
    break
  end
  for _, id in ipairs(ids) do
    if #out >= limit then
      break
    end
    local rec = record(id)
    if rec then
      out[#out + 1] = rec
    end
  end
  start = start + limit
end
return out
