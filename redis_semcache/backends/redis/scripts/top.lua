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

-- Another ranking: every entry's hits and last access in one HMGET of acc per
-- 1,000 entries; creation times from the order zset's scores where they are
-- exact (fifo; lru for entries never hit), else from the entry hash.
local rows = redis.call('ZRANGE', Z_ORDER, 0, -1, 'WITHSCORES')
local ranked = {}
for first = 1, #rows, 2000 do
  local ids = {}
  for i = first, math.min(first + 1998, #rows - 1), 2 do
    ids[#ids + 1] = rows[i]
  end
  local acc = redis.call('HMGET', ACC, unpack(ids))
  for j, id in ipairs(ids) do
    local score = tonumber(rows[first + 2 * j - 1])
    local hits, last = 0, nil
    if acc[j] then
      local h, t = string.match(acc[j], '^(%d+) (.+)$')
      hits, last = tonumber(h), tonumber(t)
    end
    local created = nil
    if ORDER == 'fifo' or (ORDER == 'lru' and not last) then
      created = score
    elseif rank == 'fifo' or not last then
      created = tonumber(redis.call('HGET', PREFIX .. id, 'created_at'))
    end
    last = last or created
    local key = created
    if rank == 'lru' then
      key = last
    elseif rank == 'lfu' and last then
      key = hits + recency(last)
    end
    if key then  -- nil: the entry is gone
      ranked[#ranked + 1] = {key, id}
    end
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
