-- lookup_exact: read an entry by id and record the hit, in one round trip.
--   KEYS[1..7]  partition keys (see _lib.lua)
--   ARGV[1..2]  entry key prefix, now
--   ARGV[3]     entry id
--   ARGV[4]     '1' when the entry's version must equal ARGV[5], else '0'
--   ARGV[5]     version
--   ARGV[6]     '1' when a miss is final (count it), '0' when a semantic lookup follows
--   ARGV[7]     '1' for sliding TTL (a hit restarts the TTL)
-- Returns {1, record...} on a hit (counts exact_hits; {3, record...} when a
-- full server refused the hit's bookkeeping, see _lib.lua), {0} on a miss, or
-- {-1, id} when the key holds something we did not write (counted as a miss
-- when final; the caller logs a warning).
local id = ARGV[3]
local key = PREFIX .. id

local function miss(reply)
  if ARGV[6] == '1' then
    count_if_possible('misses', 1)
  end
  return reply
end

local v = redis.pcall('HMGET', key, unpack(ENTRY_FIELDS))
if type(v) ~= 'table' or v.err then
  return miss({-1, id})
end
if not v[1] then
  if redis.call('EXISTS', key) == 1 then
    return miss({-1, id})
  end
  return miss({0})
end
if v[1] ~= FORMAT then
  return miss({-1, id})
end
if ARGV[4] == '1' and v[I_VERSION] ~= ARGV[5] then
  return miss({0})
end

local booked, lru, lfu, exp = touch_if_possible(id, v, ARGV[7] == '1', 'exact_hits')
local rec = as_record(id, v, lru, lfu, exp)
table.insert(rec, 1, hit_status(booked))
return rec
