-- release_lock: delete a compute lock only if the caller's token still holds it.
--   KEYS[1..7]  partition keys (see _lib.lua; unused, kept for a uniform call)
--   KEYS[8]     the lock key
--   ARGV[1..2]  entry key prefix, now
--   ARGV[3]     the caller's token
-- Returns 1 when released, 0 when the lock had expired or belongs to another token.
if redis.call('GET', KEYS[8]) == ARGV[3] then
  redis.call('DEL', KEYS[8])
  return 1
end
return 0
