-- lookup_semantic: one KNN query with a hybrid pre-filter, the distance check,
-- and the hit bookkeeping, in one round trip.
--   KEYS[1..7]  partition keys (see _lib.lua)
--   KEYS[8]     the partition's search index
--   ARGV[1..2]  entry key prefix, now
--   ARGV[3]     'best': touch and return the nearest candidate within the threshold;
--               'list': return every candidate within the threshold, for the caller to vet
--   ARGV[4]     max cosine distance (1 - min_similarity + epsilon)
--   ARGV[5]     '1' for sliding TTL
--   ARGV[6]     the counter a miss goes to: 'misses', or '' to count none
--               (get_or_compute counts its outcome once it knows it)
--   ARGV[7]     digest of the model: candidates with another model_h are skipped
--   ARGV[8]     the KNN query text with HYBRID_POLICY BATCHES
--   ARGV[9]     the scope id ('' to always run ARGV[8])
--   ARGV[10]    the KNN query text with HYBRID_POLICY ADHOC_BF, run instead of ARGV[8]
--               when the scope holds less than a quarter of the cache
--   ARGV[11..]  the other FT.SEARCH arguments; RETURN must include dist, fmt, seq
--               and model_h (and prompt in 'list' mode), SORTBY dist
-- Returns, in 'best' mode, {1, dist, record...} on a hit (counts semantic_hits;
-- status 3 when a full server refused the bookkeeping, see _lib.lua)
-- or {0} on a miss (counts ARGV[6]).  In 'list' mode it counts a provisional
-- miss and returns {2, id, dist, seq, prompt, id, dist, seq, prompt, ...};
-- touch.lua turns that miss into a hit if the caller accepts a candidate.
-- Hybrid policy: with a filter keeping all of 10,000 entries RediSearch's own choice
-- took 1.2 ms on HNSW where BATCHES took 0.1 ms (FLAT: 1.06 vs 0.93 ms), while for a
-- filter keeping 1% BATCHES is 35-60x slower than ADHOC_BF (bench/redis_probes.py).
local text = ARGV[8]
if ARGV[9] ~= '' then
  local kept = tonumber(redis.call('HGET', SCOPES, ARGV[9]) or '0')
  if kept * 4 < entry_count() then
    text = ARGV[10]
  end
end
local res = redis.call('FT.SEARCH', KEYS[8], text, unpack(ARGV, 11))
local max_distance = tonumber(ARGV[4])
local function count_miss()
  if ARGV[6] ~= '' then
    count_if_possible(ARGV[6], 1)
  end
end
local found = {}
for i = 2, #res, 2 do
  local key, fields = res[i], res[i + 1] or {}  -- nil for a hash that expired but is still indexed
  local doc = {}
  for j = 1, #fields - 1, 2 do
    doc[fields[j]] = fields[j + 1]
  end
  local d = tonumber(doc['dist'])
  local ours = doc['fmt'] == FORMAT and doc['model_h'] == ARGV[7] and string.sub(key, 1, #PREFIX) == PREFIX
  if d and d <= max_distance and ours then
    found[#found + 1] = {string.sub(key, #PREFIX + 1), doc['dist'], doc['seq'] or '', doc['prompt'] or ''}
  end
end

if ARGV[3] == 'best' then
  for _, c in ipairs(found) do
    local v = read(c[1])
    if v then
      local booked, lru, lfu, exp = touch_if_possible(c[1], v, ARGV[5] == '1', 'semantic_hits')
      local rec = as_record(c[1], v, lru, lfu, exp)
      table.insert(rec, 1, c[2])
      table.insert(rec, 1, hit_status(booked))
      return rec
    end
  end
  count_miss()
  return {0}
end

count_miss()
local out = {2}
for _, c in ipairs(found) do
  out[#out + 1] = c[1]
  out[#out + 1] = c[2]
  out[#out + 1] = c[3]
  out[#out + 1] = c[4]
end
return out
