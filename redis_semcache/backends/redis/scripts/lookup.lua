-- lookup: a request's exact check, then (optionally) its semantic search, with
-- the hit bookkeeping, in one round trip.
--   KEYS[1..7]  partition keys (see _lib.lua)
--   KEYS[8]     the partition's search index (semantic lookups only)
--   ARGV[1..2]  entry key prefix, now
--   ARGV[3]     entry id of the exact check, '' to skip it
--   ARGV[4]     '1' when the entry's version must equal ARGV[5], else '0'
--   ARGV[5]     version
--   ARGV[6]     '1' for sliding TTL (a hit restarts the TTL)
--   ARGV[7]     the counter a miss goes to: 'misses', or '' to count none (the
--               caller counts it: a semantic lookup follows, or get_or_compute
--               counts its outcome once it knows it)
--   ARGV[8]     semantic search: '' none; 'best': touch and return the nearest
--               candidate within the threshold; 'vet': the same, followed by the
--               other candidates within the threshold, for a caller that vets them
--   ARGV[9]     max cosine distance (1 - min_similarity + epsilon)
--   ARGV[10]    digest of the model: candidates with another model_h are skipped
--   ARGV[11]    the scope id
--   ARGV[12]    D: the query for a small scope runs when the scope holds less
--               than 1/D of the cache's entries
--   ARGV[13]    query text for a large scope (VECTOR_RANGE on FLAT, KNN on HNSW)
--   ARGV[14]    query text for a small scope (KNN with HYBRID_POLICY ADHOC_BF)
--   ARGV[15]    the query vector ($vec), in the index's vector type
--   ARGV[16]    at most this many candidates (LIMIT)
--   ARGV[17]    HNSW: EF_RUNTIME ($ef of the large-scope query), or 'auto' to scale it
--               with the partition's entry count (see below); '' on FLAT
--   ARGV[18]    'vet' mode: the max distance of a candidate the hit may be recorded on
--               before the caller vets it (ARGV[9] unless the caller lists more)
--   ARGV[19]    query text when the scope holds every entry: the large-scope query
--               without its filter; '' when a filter is needed anyway (a version)
-- Returns {1, dist, record...} on a hit: dist is '' for an exact hit (counts
-- exact_hits or semantic_hits; status 3 when a full server refused the
-- bookkeeping, see _lib.lua); {0, foreign} on a miss (counts ARGV[7]).
-- 'vet' mode adds the other candidates to a hit: {1, dist, record...,
-- id, dist, seq, prompt, id, ...}.  The hit is optimistic: a caller that vetoes
-- it moves the count back to ARGV[7] and offers the others to touch.lua.  When
-- the nearest candidate is beyond ARGV[18], nothing is touched: {2, foreign, id,
-- dist, seq, prompt, ...} after a provisional miss that touch.lua turns into a
-- hit if the caller accepts a candidate.
-- `foreign` is the entry id when that key holds something this library did
-- not write (the caller logs a warning), else ''.
-- Why the two queries: on FLAT a range query is exact and cheaper than KNN when
-- the scope holds most of the cache, ADHOC_BF (distances of the scope's entries
-- only) when it holds a small part; on HNSW, ADHOC_BF is exact for a small scope
-- where a filtered graph walk is slow (bench/query_crossover.py).  When the
-- scope counts say every entry is in the scope, the filter matches everything
-- and only costs time, so ARGV[19] runs unfiltered; candidates are kept only if
-- their id starts with the scope id either way, so a stale count may cost a hit
-- but can never serve another scope's entry.
local id = ARGV[3]
local foreign = ''
local mode = ARGV[8]

local function miss(reply)
  if ARGV[7] ~= '' then
    count_if_possible(ARGV[7], 1)
  end
  return reply
end

local function hit(entry_id, v, dist, counter)
  local booked, lru, lfu, exp = touch_if_possible(entry_id, v, ARGV[6] == '1', counter)
  return hit_record(hit_status(booked), dist, entry_id, v, lru, lfu, exp)
end

if id ~= '' then
  local key = PREFIX .. id
  local v = redis.pcall('HMGET', key, unpack(ENTRY_FIELDS))
  if type(v) ~= 'table' or v.err or (v[1] and v[1] ~= FORMAT) then
    foreign = id
  elseif v[1] then
    if ARGV[4] ~= '1' or v[I_VERSION] == ARGV[5] then
      return hit(id, v, '', 'exact_hits')
    end
  elseif redis.call('EXISTS', key) == 1 then
    foreign = id
  end
end
if mode == '' then
  return miss({0, foreign})
end

local total = entry_count()
local kept = tonumber(redis.call('HGET', SCOPES, ARGV[11]) or '0')
local small = kept * tonumber(ARGV[12]) < total
local text = ARGV[13]
local params = {'vec', ARGV[15]}
if small then
  text = ARGV[14]
elseif kept >= total and ARGV[19] ~= '' then
  text = ARGV[19]
end
if not small and ARGV[17] ~= '' then
  -- HNSW's graph walk loses recall as the index grows; 'auto' widens it with the
  -- entry count.  Recall@1 >= 0.95 on near-duplicate queries (cosine 0.9-0.95 to
  -- one of the stored random 384-d vectors: a hit) took EF_RUNTIME 20 at 10k
  -- entries and 96-128 at 100k (bench/hnsw_recall.py).  A query near nothing (a
  -- miss) gets its true nearest far less often (0.18 at EF 20, 10k; 0.22 at 128,
  -- 100k, issue #23), which costs nothing: all candidates are below any threshold.
  local ef = tonumber(ARGV[17]) or math.min(1024, math.max(10, math.floor(20 * (total / 10000) ^ 0.8)))
  params = {'vec', ARGV[15], 'ef', ef}
end
local res
if mode == 'vet' then
  res = redis.call('FT.SEARCH', KEYS[8], text, 'RETURN', 5, 'dist', 'fmt', 'seq', 'model_h', 'prompt',
    'SORTBY', 'dist', 'LIMIT', 0, ARGV[16], 'DIALECT', 2, 'PARAMS', #params, unpack(params))
else
  res = redis.call('FT.SEARCH', KEYS[8], text, 'RETURN', 4, 'dist', 'fmt', 'seq', 'model_h',
    'SORTBY', 'dist', 'LIMIT', 0, ARGV[16], 'DIALECT', 2, 'PARAMS', #params, unpack(params))
end
local max_distance = tonumber(ARGV[9])
local scoped = PREFIX .. ARGV[11]  -- entry ids start with their scope id
local found = {}
for i = 2, #res, 2 do
  local key, fields = res[i], res[i + 1] or {}  -- nil for a hash that expired but is still indexed
  local doc = {}
  for j = 1, #fields - 1, 2 do
    doc[fields[j]] = fields[j + 1]
  end
  local d = tonumber(doc['dist'])
  local ours = doc['fmt'] == FORMAT and doc['model_h'] == ARGV[10] and string.sub(key, 1, #scoped) == scoped
  if d and d <= max_distance and ours then
    found[#found + 1] = {string.sub(key, #PREFIX + 1), doc['dist'], doc['seq'] or '', doc['prompt'] or ''}
  end
end

for i, c in ipairs(found) do
  if mode == 'vet' and tonumber(c[2]) > tonumber(ARGV[18]) then
    miss(nil)
    local out = {2, foreign}
    for j = i, #found do
      for f = 1, 4 do
        out[#out + 1] = found[j][f]
      end
    end
    return out
  end
  local v = read(c[1])
  if v then
    local rec = hit(c[1], v, c[2], 'semantic_hits')
    if mode == 'vet' then
      for j = i + 1, #found do
        for f = 1, 4 do
          rec[#rec + 1] = found[j][f]
        end
      end
    end
    return rec
  end
end
return miss({0, foreign})
