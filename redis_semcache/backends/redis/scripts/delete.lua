-- delete: remove entries and their bookkeeping; used by invalidation and clear.
--   KEYS[1..7]  partition keys (see _lib.lua)
--   KEYS[8]     receipt key, unique to this call (optional)
--   ARGV[1..2]  entry key prefix, now
--   ARGV[3]     counter that counts the deletions ('invalidations'), or '' for none
--   ARGV[4]     'ids': ARGV[5..] are entry ids, deleted if they exist;
--               'matched': ARGV[5..] are id, seq pairs from a search, and an entry
--               is deleted only while its seq is still the one that matched, so
--               an entry rewritten after the search survives
-- Returns the number of entries deleted.  With a receipt key, the count is
-- kept there for RECEIPT_MS, and a second run with the same key (the client
-- re-sent the call because its reply was lost) returns it without deleting or
-- counting again: the caller learns how many entries the first run deleted.
local RECEIPT_MS = 600000
local receipt = KEYS[8]
if receipt then
  local done = redis.call('GET', receipt)
  if done then
    return tonumber(done)
  end
end
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
if receipt then
  -- pcall: with maxmemory and noeviction, a run that deleted nothing may not
  -- write; then there is nothing a re-run could miscount either.
  redis.pcall('SET', receipt, n, 'PX', RECEIPT_MS)
end
return n
