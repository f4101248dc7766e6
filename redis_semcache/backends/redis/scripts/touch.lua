-- touch: record a semantic hit on a candidate the caller accepted after
-- lookup_semantic's 'list' mode (which counted a provisional miss).
--   KEYS[1..7]  partition keys (see _lib.lua)
--   ARGV[1..2]  entry key prefix, now
--   ARGV[3]     entry id
--   ARGV[4]     the seq the candidate had when it was listed
--   ARGV[5]     '1' for sliding TTL
--   ARGV[6]     the counter lookup_semantic counted the provisional miss in ('' for none)
-- Returns {1, record...} ({3, ...} when a full server refused the bookkeeping,
-- see _lib.lua) and moves one count from ARGV[6] to semantic_hits when
-- the entry is still the one that was vetted (same seq), else {0} (the entry
-- was replaced or removed meanwhile; the miss stands).
local id = ARGV[3]
local v = read(id)
if not v or v[I_SEQ] ~= ARGV[4] then
  return {0}
end
local booked, lru, lfu, exp = touch_if_possible(id, v, ARGV[5] == '1', 'semantic_hits')
if booked and ARGV[6] ~= '' and tonumber(redis.call('HGET', STATS, ARGV[6]) or '0') > 0 then
  count(ARGV[6], -1)
end
local rec = as_record(id, v, lru, lfu, exp)
table.insert(rec, 1, hit_status(booked))
return rec
