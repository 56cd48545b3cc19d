// Package redischat is a chat.Store and a chat.Membership on Redis, so that several Huddle
// nodes share the rooms, their members and their message history, and a node's restart loses
// nothing.
//
// Start with New, on the caller's redis.UniversalClient (a single server, Sentinel or Cluster),
// and hand the one *Store to chat.New as both its Store and its Membership:
//
//	store, err := redischat.New(ctx, rdb, nil) // fails when Redis does not answer
//	svc, err := chat.New(node, &chat.Options{Store: store, Membership: store})
//
// # Keys
//
// Every key starts with Options.Prefix ("huddle:" by default). The keys of one room share the
// hash tag {room:<id>}, so the scripts that touch several of them run on Cluster too.
//
//	<prefix>{room:<id>}:log       sorted set: message ids, scored by append order (1, 2, 3…)
//	<prefix>{room:<id>}:msgs      hash: message id → message JSON
//	<prefix>{room:<id>}:members   hash: user id → signaling.User JSON
//	<prefix>{user:<id>}:rooms     set: the ids of the user's rooms
//	<prefix>idem:<n>:<sender>:<clientMsgId>
//	                              string "<unix ms>|<message JSON>", expiring after the
//	                              idempotency window; <n> is the length of the sender id
//
// Append runs one Lua script on the room's keys: it adds the id to the log and the body to the
// hash, then drops the oldest beyond Options.MaxHistory. History runs another, which finds the
// cursor's score and reads the page below it: O(log n + limit). Messages are listed in the
// order they were appended, which is id order for ids from one node and stays consistent when
// several nodes' clocks disagree.
//
// A client message id is remembered per sender across all rooms, so its key cannot share a slot
// with a room: Append claims the (sender, clientMsgId) pair with the message first, then stores
// the message in its room. A repeat finds the claim and stores the claimed message if it is not
// there yet, so a message is stored once even under concurrent repeats, and an Append that
// failed between the two steps is completed by the client's retry (see Store.Append).
//
// Join and Leave write the room's members hash and the user's rooms set in one MULTI; on a
// Cluster or Ring client, where the two keys live on different shards, they are written in one
// pipeline instead, and Rooms reports only the rooms whose members hash lists the user.
//
// # Errors and concurrency
//
// A *Store is safe for concurrent use. A Redis failure is returned as an error wrapping
// signaling.ErrUnavailable, so the client of the chat Service receives `unavailable`;
// chat.ErrInvalid and chat.ErrNotFound keep their meaning. go-redis reconnects by itself once
// Redis is back, and the Store reloads its scripts into a restarted server.
package redischat
