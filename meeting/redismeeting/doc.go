// Package redismeeting is a meeting.Store on Redis, so that the meetings of Huddle survive a
// node's restart and are shared by every node of a deployment, and a meeting.Leaser, so that
// those nodes share the meetings' timers (graces and empty timeouts): each meeting's at one node
// at a time, taken over by another when that node shuts down or dies.
//
// Start with New, on the caller's redis.UniversalClient (a single server, Sentinel or Cluster;
// Redis 5 or newer), and give the one *Store to the meeting Service of every node, each node
// with its own id (a *signaling.Node's ID by default):
//
//	store, err := redismeeting.New(ctx, rdb, &redismeeting.Options{Prefix: "myapp:"})
//	svc, err := meeting.New(node, &meeting.Options{Store: store, Members: membership, RoomTopic: chat.RoomTopic})
//	defer svc.Close() // releases the node's timer leases
//
// # Keys
//
// Every key starts with Options.Prefix ("huddle:" by default). The keys of one room share the
// hash tag {room:<id>} (as redischat's keys of the room do), so each script runs on Cluster too.
//
//	<prefix>{room:<id>}:meeting         hash: rec    → the meeting (meeting.Meeting.MarshalBinary)
//	                                          status → its status ("active", "inactive")
//	                                          ver    → a random token, new at every write
//	<prefix>{room:<id>}:meeting:lease   string "<until unix ms>|<owner node id>": who runs the
//	                                    meeting's timers, until when; Redis expires it after
//	                                    twice the lease, to clean up after nodes that are gone
//	<prefix>{meetings}:active           sorted set: room id → when a Create listed it (unix ms);
//	                                    the index of the rooms that may have an active meeting
//
// Create lists the room in the index, then stores the record in one script unless the room's
// record is active (it never overwrites a running meeting; an inactive one is replaced). Update
// reads the record and its version, runs the caller's function and stores the result with a
// script that checks the version is unchanged (optimistic concurrency); on a change it reads
// again, up to Options.MaxAttempts times, then fails with meeting.ErrConflict. Versions are
// random, so a record deleted and created again never matches a stale reader's version. Get is
// one HGET; ActiveIn reads the rooms' records in pipelines (one round trip per 512 rooms on a
// single server, one per shard and batch on Cluster).
//
// The index lives in a slot of its own, so it is written apart from the records and is a hint:
// Active (the sweep's list of every active meeting) reads it and the records it names, and
// drops entries whose record is missing or inactive once they are over a minute old (younger
// ones may belong to a Create between its two steps). Delete removes the record, and the entry
// too when it is that old.
//
// # Timers across nodes
//
// Acquire and Release run one script on the room's lease key. A node that stores a deadline
// (a participant's or the host's drop, the last participant's leave) takes the room's lease and
// arms the timer; every meeting.Options.SweepInterval each node lists the active meetings, and
// for those with pending deadlines renews its lease, or takes one that lapsed, and arms them
// from the stored state. Service.Close releases a node's leases, so another node's next sweep
// takes its timers over; a killed node's leases lapse after meeting.Options.LeaseTTL. A timer
// that fires re-checks its deadline in an atomic Update, so a meeting ends once, whichever node
// fires and however many do. Lease times are the Service's clock, not Redis's, so tests drive
// them with a manual clock and the nodes' clocks should agree to well within the lease.
//
// # Errors and concurrency
//
// A *Store is safe for concurrent use by any number of nodes. A Redis failure is returned as an
// error wrapping signaling.ErrUnavailable, so the meeting Service answers `unavailable` and its
// timers retry; meeting.ErrNotFound and meeting.ErrConflict keep their meaning. go-redis
// reconnects by itself once Redis is back, and the Store reloads its scripts into a restarted
// server.
package redismeeting
