package redispresence

import "github.com/redis/go-redis/v9"

// The scripts below keep the invariants of the key layout (doc.go):
//   - a session is in its user's hash (→ node) and in that node's hash (→ user), or in neither;
//   - a user hash exists while the user has sessions; its state hash then holds at most the
//     chosen status, and otherwise at most the last-seen time;
//   - a node is in the reaped set from the moment its sessions are claimed until its next
//     heartbeat.
//
// Keys a script computes from the key base (ARGV) share the {presence} hash tag with the keys it
// is given, so they are in the slot the call is routed to.

// addScript records session ARGV[1] of user ARGV[3] on node ARGV[2], moving it from the node
// that held it before. It returns 1 when it is the user's first session.
//
// KEYS[1] user sessions, KEYS[2] node sessions, KEYS[3] user state; ARGV[4] the key base.
var addScript = redis.NewScript(`
local first = redis.call('EXISTS', KEYS[1]) == 0
local old = redis.call('HGET', KEYS[1], ARGV[1])
if old and old ~= ARGV[2] then
  redis.call('HDEL', ARGV[4] .. 'node:' .. old, ARGV[1])
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
if first then
  redis.call('DEL', KEYS[3])
  return 1
end
return 0
`)

// removeScript forgets session ARGV[1]. When it was the user's last, the chosen status is
// cleared, last seen is set to ARGV[2] and it returns 1.
//
// KEYS[1] user sessions, KEYS[2] user state; ARGV[2] unix ms, ARGV[3] the key base.
var removeScript = redis.NewScript(`
local node = redis.call('HGET', KEYS[1], ARGV[1])
if not node then return 0 end
redis.call('HDEL', ARGV[3] .. 'node:' .. node, ARGV[1])
redis.call('HDEL', KEYS[1], ARGV[1])
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], 'seen', ARGV[2])
return 1
`)

// statusScript sets the chosen status ARGV[1] of a user with sessions and returns 1 when the
// user's status changed. No chosen status means online.
//
// KEYS[1] user sessions, KEYS[2] user state.
var statusScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local old = redis.call('HGET', KEYS[2], 'status') or 'online'
redis.call('HSET', KEYS[2], 'status', ARGV[1])
if old == ARGV[1] then return 0 end
return 1
`)

// getScript returns, for each user, {session count, chosen status, last seen}; a missing value
// is an empty string.
//
// KEYS: for each user, its sessions then its state.
var getScript = redis.NewScript(`
local out = {}
for i = 1, #KEYS, 2 do
  out[#out + 1] = redis.call('HLEN', KEYS[i])
  local st = redis.call('HMGET', KEYS[i + 1], 'status', 'seen')
  out[#out + 1] = st[1] or ''
  out[#out + 1] = st[2] or ''
end
return out
`)

// heartbeatScript sets the deadline of node ARGV[1] to ARGV[2] (unix ms) and returns 1 when the
// node was reaped since its previous heartbeat, clearing that mark.
//
// KEYS[1] node deadlines, KEYS[2] reaped nodes.
var heartbeatScript = redis.NewScript(`
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
return redis.call('SREM', KEYS[2], ARGV[1])
`)

// reapScript claims up to about ARGV[3] sessions of one node: in mode 'expire' the first node
// whose deadline is not after ARGV[2], in mode 'node' node ARGV[5]. It removes them, marks the
// node reaped, and drops the node's deadline once it has no sessions left. Every user whose last
// session it removed goes offline, last seen at ARGV[2], and is returned: the caller that claims
// a user is the only one to learn it. The reply is {more, user id...}; more is 1 when the caller
// should run the script again (sessions or dead nodes remain).
//
// KEYS[1] node deadlines, KEYS[2] reaped nodes; ARGV[1] the key base, ARGV[2] unix ms,
// ARGV[3] batch size, ARGV[4] mode, ARGV[5] node id.
var reapScript = redis.NewScript(`
local base, at, batch, expire = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4] == 'expire'
local node = ARGV[5]
if expire then
  local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', at, 'LIMIT', 0, 1)
  if #dead == 0 then return {0} end
  node = dead[1]
end
local nk = base .. 'node:' .. node
if not redis.call('ZSCORE', KEYS[1], node) and redis.call('EXISTS', nk) == 0 then
  return {0}
end
redis.call('SADD', KEYS[2], node)
local got, cursor = {}, '0'
repeat
  local r = redis.call('HSCAN', nk, cursor, 'COUNT', batch)
  cursor = r[1]
  for _, v in ipairs(r[2]) do got[#got + 1] = v end
until cursor == '0' or #got >= 2 * batch
local out = {0}
for i = 1, #got, 2 do
  local sid, uid = got[i], got[i + 1]
  if redis.call('HDEL', nk, sid) == 1 then
    local uk = base .. 'user:' .. uid
    if redis.call('HGET', uk, sid) == node then
      redis.call('HDEL', uk, sid)
      if redis.call('EXISTS', uk) == 0 then
        local sk = base .. 'state:' .. uid
        redis.call('DEL', sk)
        redis.call('HSET', sk, 'seen', at)
        out[#out + 1] = uid
      end
    end
  end
end
if redis.call('EXISTS', nk) == 1 then
  out[1] = 1
else
  redis.call('ZREM', KEYS[1], node)
  if expire and #redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', at, 'LIMIT', 0, 1) > 0 then
    out[1] = 1
  end
end
return out
`)
