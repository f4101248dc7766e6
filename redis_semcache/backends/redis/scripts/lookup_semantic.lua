-- lookup_semantic: one KNN query with a hybrid pre-filter, the distance check,
-- and the hit bookkeeping, in one round trip.
--   KEYS[1..6]  partition keys (see _lib.lua)
--   KEYS[7]     the partition's search index
--   ARGV[1..2]  entry key prefix, now
--   ARGV[3]     'best': touch and return the nearest candidate within the threshold;
--               'list': return every candidate within the threshold, for the caller to vet
--   ARGV[4]     max cosine distance (1 - min_similarity + epsilon)
--   ARGV[5]     '1' for sliding TTL
--   ARGV[6]     digest of the model: candidates with another model_h are skipped
--   ARGV[7..]   FT.SEARCH arguments after the index name; RETURN must include
--               dist, fmt, seq and model_h (and prompt in 'list' mode), SORTBY dist
-- Returns, in 'best' mode, {1, dist, record...} on a hit (counts semantic_hits)
-- or {0} on a miss (counts misses).  In 'list' mode it counts a provisional
-- miss and returns {2, id, dist, seq, prompt, id, dist, seq, prompt, ...};
-- touch.lua turns that miss into a hit if the caller accepts a candidate.
local res = redis.call('FT.SEARCH', KEYS[7], unpack(ARGV, 7))
local max_distance = tonumber(ARGV[4])
local found = {}
for i = 2, #res, 2 do
  local key, fields = res[i], res[i + 1]
  local doc = {}
  for j = 1, #fields - 1, 2 do
    doc[fields[j]] = fields[j + 1]
  end
  local d = tonumber(doc['dist'])
  local ours = doc['fmt'] == FORMAT and doc['model_h'] == ARGV[6] and string.sub(key, 1, #PREFIX) == PREFIX
  if d and d <= max_distance and ours then
    found[#found + 1] = {string.sub(key, #PREFIX + 1), doc['dist'], doc['seq'] or '', doc['prompt'] or ''}
  end
end

if ARGV[3] == 'best' then
  for _, c in ipairs(found) do
    local v = read(c[1])
    if v then
      local lru, lfu, exp = touch(c[1], v, ARGV[5] == '1')
      count('semantic_hits', 1)
      local rec = as_record(c[1], v, lru, lfu, exp)
      table.insert(rec, 1, c[2])
      table.insert(rec, 1, 1)
      return rec
    end
  end
  count('misses', 1)
  return {0}
end

count('misses', 1)
local out = {2}
for _, c in ipairs(found) do
  out[#out + 1] = c[1]
  out[#out + 1] = c[2]
  out[#out + 1] = c[3]
  out[#out + 1] = c[4]
end
return out
