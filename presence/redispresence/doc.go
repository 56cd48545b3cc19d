// Package redispresence is a presence.Store on Redis, so that the presence Trackers of several
// Huddle nodes share one view of who is online, and the sessions of a node that dies without
// cleaning up expire when its heartbeat deadline passes (PROTOCOL.md §6).
//
// Start with New, and give the Store to every node's Tracker:
//
//	store, err := redispresence.New(ctx, rdb, &redispresence.Options{Prefix: "myapp:"})
//	tracker, err := presence.New(node, &presence.Options{Store: store, Rooms: membership, RoomTopic: chat.RoomTopic})
//
// The Store takes the caller's redis.UniversalClient, so an app reuses its client, Sentinel or
// Cluster setup. It needs Redis 5 or newer and does not own the client.
//
// # Key layout
//
// Every key starts with the prefix (default "huddle:") and the hash tag {presence}, so on Redis
// Cluster all of them live in one slot and every change is a single atomic Lua script (run with
// EVALSHA, falling back to EVAL). With the default prefix:
//
//	huddle:{presence}:nodes         ZSET  node id → heartbeat deadline (unix ms), set by Heartbeat
//	huddle:{presence}:reaped        SET   nodes whose sessions were claimed since their last Heartbeat
//	huddle:{presence}:node:<node>   HASH  session id → user id: the sessions a node holds
//	huddle:{presence}:user:<user>   HASH  session id → node id: a user's sessions on every node;
//	                                      it exists while the user is online or away
//	huddle:{presence}:state:<user>  HASH  status: the status the user chose, while it has sessions;
//	                                      seen: when its last session ended (unix ms), while it has none
//
// A session is in both its user's and its node's hash, or in neither. A user without a chosen
// status is online.
//
// # Dead nodes
//
// Heartbeat sets a node's deadline in the nodes sorted set. Expire takes the nodes whose deadline
// is not after the caller's now, one at a time, and removes their sessions in batches of about a
// thousand per script, so that a node with many sessions never blocks Redis for long. Each script
// reports the users whose last session it removed, so each user that went offline is reported to
// exactly one caller however many nodes expire at once. RemoveNode claims one node the same way.
// A node whose sessions were claimed is kept in the reaped set until its next Heartbeat, which
// reports it; nodes that never come back leave their id there, so prefer stable node ids.
//
// A Redis that loses its data (restarted without persistence, flushed, evicting keys) loses the
// sessions of live users too. Store implements presence.SessionCounter (HLEN of a node's hash),
// so each Tracker's heartbeat notices that Redis holds fewer of its sessions than it added and
// adds them again: users still connected show online again within one HeartbeatInterval.
//
// All times (deadlines, lastSeen) come from the callers' arguments, never from the Redis
// server's clock, and are kept in milliseconds. Last-seen times are kept as long as the keys live.
//
// # Errors and concurrency
//
// A Redis failure is returned as an error wrapping signaling.ErrUnavailable, which a Tracker logs
// and retries at its next heartbeat; presence.ErrInvalidStatus is returned as it is. If Redis
// fails while Expire or RemoveNode is part way through, the users claimed so far are returned
// with the error. All methods of Store are safe for concurrent use by any number of nodes.
package redispresence
