-- top: the entries ranked highest by hits, last access or creation.
--   KEYS[1..7]  partition keys (see _lib.lua)
--   ARGV[1..2]  entry key prefix, now
--   ARGV[3]     'lfu' (hits, then recency), 'lru' (last access) or 'fifo' (creation)
--   ARGV[4]     how many entries
--   ARGV[5]     at most this many expired entries settled first
-- Returns {record, record, ...}, highest first; keys that vanished or hold
-- something we did not write are skipped.  The ranking of the order zset
-- (KEYS[1]) is read from it; any other one ranks every entry: O(n).
settle_order()
prune(tonumber(ARGV[5]))
local rank = ARGV[3]
local limit = tonumber(ARGV[4])
local out = {}
if rank == ORDER then
  local start = 0
  while #out < limit do
    local ids = redis.call('ZRANGE', Z_ORDER, start, start + limit - 1, 'REV')
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
end

local ranked = {}
for _, id in ipairs(redis.call('ZRANGE', Z_ORDER, 0, -1)) do
  local created_at = tonumber(redis.call('HGET', PREFIX .. id, 'created_at'))
  if created_at then
    local key = created_at
    if rank ~= 'fifo' then
      local hits, last = access(id, created_at)
      key = tonumber(last)
      if rank == 'lfu' then
        key = hits + recency(key)
      end
    end
    ranked[#ranked + 1] = {key, id}
  end
end
table.sort(ranked, function(a, b) return a[1] > b[1] or (a[1] == b[1] and a[2] > b[2]) end)  -- as ZRANGE REV
for _, r in ipairs(ranked) do
  if #out >= limit then
    break
  end
  local rec = record(r[2])
  if rec then
    out[#out + 1] = rec
  end
end
return out
