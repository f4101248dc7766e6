-- touch: record a semantic hit on a candidate the caller accepted after
-- lookup_semantic's 'list' mode (which counted a provisional miss).
--   KEYS[1..6]  partition keys (see _lib.lua)
--   ARGV[1..2]  entry key prefix, now
--   ARGV[3]     entry id
--   ARGV[4]     the seq the candidate had when it was listed
--   ARGV[5]     '1' for sliding TTL
-- Returns {1, record...} and moves one count from misses to semantic_hits when
-- the entry is still the one that was vetted (same seq), else {0} (the entry
-- was replaced or removed meanwhile; the miss stands).
local id = ARGV[3]
if redis.pcall('HGET', PREFIX .. id, 'seq') ~= ARGV[4] then
  return {0}
end
local rec = record(id)
if not rec then
  return {0}
end
touch(id, ARGV[5] == '1')
if tonumber(redis.call('HGET', STATS, 'misses') or '0') > 0 then
  count('misses', -1)
end
count('semantic_hits', 1)
rec = record(id)
table.insert(rec, 1, 1)
return rec
