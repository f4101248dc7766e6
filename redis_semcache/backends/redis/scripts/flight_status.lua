-- flight_status: peek at an entry and its compute lock (single flight), without
-- counting a lookup or touching the entry.
--   KEYS[1..7]  partition keys (see _lib.lua)
--   KEYS[8]     the entry's lock key
--   ARGV[1..2]  entry key prefix, now
--   ARGV[3]     entry id
--   ARGV[4]     '1' when the entry's version must equal ARGV[5], else '0'
--   ARGV[5]     version
-- Returns {locked} when there is no live entry (of that version), else
-- {locked, record...}; locked is 1 while someone holds the lock.
local locked = redis.call('EXISTS', KEYS[8])
local rec = record(ARGV[3])
if not rec or (ARGV[4] == '1' and rec[1 + I_VERSION] ~= ARGV[5]) then
  return {locked}
end
table.insert(rec, 1, locked)
return rec
