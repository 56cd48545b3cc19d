package redismeeting

import "github.com/redis/go-redis/v9"

// The scripts below keep the invariants of the key layout (doc.go): a meeting hash holds the
// record, its status and a version token that changes at every write; a lease is
// "<until unix ms>|<owner>". Each script touches the keys of one room, or the index alone.

// createScript stores a new record unless the room's record is active. It returns 1 when it
// stored the record, 0 when an active meeting is in the way.
//
// KEYS[1] the meeting hash; ARGV[1] the record, ARGV[2] its status, ARGV[3] a new version.
var createScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'status') == 'active' then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'rec', ARGV[1], 'status', ARGV[2], 'ver', ARGV[3])
return 1
`)

// casScript stores a record if the stored version is still ARGV[1]. It returns 1 when it stored
// the record, 0 when the version changed, -1 when the record is gone.
//
// KEYS[1] the meeting hash; ARGV[1] the version read, ARGV[2] the record, ARGV[3] its status,
// ARGV[4] a new version.
var casScript = redis.NewScript(`
local v = redis.call('HGET', KEYS[1], 'ver')
if not v then return -1 end
if v ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'rec', ARGV[2], 'status', ARGV[3], 'ver', ARGV[4])
return 1
`)

// unindexScript removes from the index those of the rooms ARGV[2..] whose entry was written at
// or before ARGV[1] (unix ms): a Create writes a fresh entry before its record, so an entry that
// old whose record is missing or inactive belongs to no Create in progress. It returns how many
// entries it removed.
//
// KEYS[1] the index.
var unindexScript = redis.NewScript(`
local cutoff, n = tonumber(ARGV[1]), 0
for i = 2, #ARGV do
  local s = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if s and tonumber(s) <= cutoff then n = n + redis.call('ZREM', KEYS[1], ARGV[i]) end
end
return n
`)

// acquireScript sets the lease to ARGV[3]|ARGV[1] (expiring in Redis after ARGV[4] ms, for
// cleanup only) unless another owner's lease runs past ARGV[2]. It returns 1 when owner ARGV[1]
// holds the lease now, 0 otherwise.
//
// KEYS[1] the lease; ARGV[1] owner, ARGV[2] now (unix ms), ARGV[3] until (unix ms), ARGV[4] px.
var acquireScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v then
  local sep = string.find(v, '|', 1, true)
  if sep and string.sub(v, sep + 1) ~= ARGV[1] and tonumber(string.sub(v, 1, sep - 1)) > tonumber(ARGV[2]) then
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[3] .. '|' .. ARGV[1], 'PX', ARGV[4])
return 1
`)

// releaseScript deletes the lease if owner ARGV[1] holds it, and returns 1 then.
//
// KEYS[1] the lease; ARGV[1] owner.
var releaseScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v then
  local sep = string.find(v, '|', 1, true)
  if sep and string.sub(v, sep + 1) == ARGV[1] then
    redis.call('DEL', KEYS[1])
    return 1
  end
end
return 0
`)
