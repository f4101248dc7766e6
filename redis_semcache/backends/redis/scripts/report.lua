-- report: settle expired entries, then read the entry count and counters.
--   KEYS[1..7]  partition keys (see _lib.lua)
--   ARGV[1..2]  entry key prefix, now
--   ARGV[3]     at most this many expired entries settled
--   ARGV[4..]   counter names
-- Returns {more, entries, counter values...}: more is 1 when expired entries
-- remain to be settled (call again).
settle_order()
local more = prune(tonumber(ARGV[3]))
local out = {more and 1 or 0, entry_count()}
for i = 4, #ARGV do
  out[#out + 1] = redis.call('HGET', STATS, ARGV[i]) or '0'
end
return out
