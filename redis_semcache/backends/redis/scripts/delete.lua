-- delete: remove entries and their bookkeeping; used by invalidation and clear.
--   KEYS[1..7]  partition keys (see _lib.lua)
--   ARGV[1..2]  entry key prefix, now
--   ARGV[3]     counter that counts the deletions ('invalidations'), or '' for none
--   ARGV[4]     'ids': ARGV[5..] are entry ids, deleted if they exist;
--               'matched': ARGV[5..] are id, seq pairs from a search, and an entry
--               is deleted only while its seq is still the one that matched, so
--               an entry rewritten after the search survives
-- Returns the number of entries deleted.
local n = 0
if ARGV[4] == 'ids' then
  for i = 5, #ARGV do
    if redis.call('DEL', PREFIX .. ARGV[i]) == 1 then
      forget(ARGV[i])
      n = n + 1
    end
  end
else
  for i = 5, #ARGV - 1, 2 do
    local id = ARGV[i]
    if redis.pcall('HGET', PREFIX .. id, 'seq') == ARGV[i + 1] then
      redis.call('DEL', PREFIX .. id)
      forget(id)
      n = n + 1
    end
  end
end
if ARGV[3] ~= '' then
  count(ARGV[3], n)
end
return n
