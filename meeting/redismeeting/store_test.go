package redismeeting_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/huddle-go/huddle/clock"
	"github.com/huddle-go/huddle/internal/redistest"
	"github.com/huddle-go/huddle/internal/storetest"
	"github.com/huddle-go/huddle/meeting"
	"github.com/huddle-go/huddle/meeting/redismeeting"
	"github.com/huddle-go/huddle/signaling"
	"github.com/matryer/is"
	"github.com/redis/go-redis/v9"
)

func TestMain(m *testing.M) { os.Exit(redistest.Main(m)) }

// newStore returns a Store on the shared test Redis under a prefix of the test's own, with its
// client, whose keys are deleted at cleanup.
func newStore(t *testing.T, opts *redismeeting.Options) (*redismeeting.Store, redis.UniversalClient) {
	t.Helper()
	prefix := redistest.Prefix(t)
	rdb := redistest.Client(t, redistest.Addr(t), prefix)
	var o redismeeting.Options
	if opts != nil {
		o = *opts
	}
	o.Prefix = prefix
	s, err := redismeeting.New(context.Background(), rdb, &o)
	if err != nil {
		t.Fatal(err)
	}
	return s, rdb
}

var ctx = context.Background()

func sample(roomID string) meeting.Meeting {
	return meeting.Meeting{
		RoomID:       roomID,
		Host:         signaling.User{ID: "alice", Username: "Alice"},
		Type:         meeting.TypeGroup,
		MeetingLink:  "/meeting/" + roomID,
		Status:       meeting.StatusActive,
		CreatedAt:    1700000000000,
		Participants: []meeting.Participant{{User: signaling.User{ID: "alice", Username: "Alice"}, JoinedAt: 1700000000000, Sessions: []string{"s1"}}},
	}
}

// hashTag returns the part of key that Redis Cluster hashes.
func hashTag(key string) string {
	i := strings.IndexByte(key, '{')
	if i < 0 {
		return key
	}
	j := strings.IndexByte(key[i+1:], '}')
	if j <= 0 {
		return key
	}
	return key[i+1 : i+1+j]
}

func TestContract(t *testing.T) {
	storetest.Meeting(t, func(t *testing.T) meeting.Store {
		s, _ := newStore(t, nil)
		return s
	})
}

func TestKeyLayout(t *testing.T) {
	is := is.New(t)
	s, rdb := newStore(t, nil)
	m := sample("r1")
	m.Participants[0].DroppedAt = 1700000000200
	is.NoErr(s.Create(ctx, m)) // create
	ok, err := s.Acquire(ctx, "r1", "node-1", time.UnixMilli(1700000000000), time.Minute)
	is.NoErr(err) // acquire
	is.True(ok)   // a free lease

	key := redismeeting.MeetingKey(s, "r1")
	is.Equal(hashTag(key), "room:r1")                              // a room's keys carry its hash tag
	is.Equal(hashTag(redismeeting.LeaseKey(s, "r1")), "room:r1")   // the lease too
	is.Equal(hashTag(redismeeting.MeetingKey(s, "a}b")), "room:a") // an odd id still keeps its keys together
	is.Equal(hashTag(redismeeting.LeaseKey(s, "a}b")), "room:a")   // in one slot
	fields, err := rdb.HGetAll(ctx, key).Result()
	is.NoErr(err)                        // the meeting is a hash
	is.Equal(fields["status"], "active") // with its status
	is.True(fields["ver"] != "")         // a version
	var rec map[string]any
	is.NoErr(json.Unmarshal([]byte(fields["rec"]), &rec))                                          // and the record
	is.Equal(rec["v"], float64(1))                                                                 // in the MarshalBinary encoding
	is.Equal(rec["participants"].([]any)[0].(map[string]any)["droppedAt"], float64(1700000000200)) // server-side fields included
	lease, err := rdb.Get(ctx, redismeeting.LeaseKey(s, "r1")).Result()
	is.NoErr(err)                           // the lease is a string
	is.Equal(lease, "1700000060000|node-1") // until|owner
	ttl, err := rdb.PTTL(ctx, redismeeting.LeaseKey(s, "r1")).Result()
	is.NoErr(err)                                      // with a Redis expiry
	is.True(ttl > time.Minute && ttl <= 2*time.Minute) // of twice the lease, for cleanup
	rooms, err := rdb.ZRange(ctx, redismeeting.IndexKey(s), 0, -1).Result()
	is.NoErr(err)                   // the index
	is.Equal(rooms, []string{"r1"}) // lists the room
}

func TestLeases(t *testing.T) {
	is := is.New(t)
	s, _ := newStore(t, nil)
	t0 := time.UnixMilli(1700000000000)
	const ttl = 15 * time.Second

	ok, err := s.Acquire(ctx, "r1", "a", t0, ttl)
	is.NoErr(err) // acquire
	is.True(ok)   // a free lease is taken
	ok, err = s.Acquire(ctx, "r1", "b", t0.Add(ttl-time.Millisecond), ttl)
	is.NoErr(err) // acquire
	is.True(!ok)  // not while a's runs
	ok, err = s.Acquire(ctx, "r1", "a", t0.Add(10*time.Second), ttl)
	is.NoErr(err) // renew
	is.True(ok)   // the holder renews
	ok, err = s.Acquire(ctx, "r1", "b", t0.Add(ttl), ttl)
	is.NoErr(err) // acquire
	is.True(!ok)  // renewed: a's lease now runs until 25 s
	ok, err = s.Acquire(ctx, "r1", "b", t0.Add(25*time.Second), ttl)
	is.NoErr(err) // acquire
	is.True(ok)   // a lapsed lease is taken over
	ok, err = s.Acquire(ctx, "r2", "a", t0, ttl)
	is.NoErr(err) // acquire
	is.True(ok)   // rooms have leases of their own

	is.NoErr(s.Release(ctx, "r1", "a")) // a does not hold r1 any more
	ok, err = s.Acquire(ctx, "r1", "a", t0.Add(26*time.Second), ttl)
	is.NoErr(err)                       // acquire
	is.True(!ok)                        // so its release left b's lease alone
	is.NoErr(s.Release(ctx, "r1", "b")) // b lets go
	ok, err = s.Acquire(ctx, "r1", "a", t0.Add(26*time.Second), ttl)
	is.NoErr(err) // acquire
	is.True(ok)   // a released lease is free at once
}

func TestActiveIndex(t *testing.T) {
	is := is.New(t)
	clk := clock.NewManual(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	s, rdb := newStore(t, &redismeeting.Options{Clock: clk})
	for _, r := range []string{"r1", "r2", "r3"} {
		is.NoErr(s.Create(ctx, sample(r))) // create
	}
	is.NoErr(s.Update(ctx, "r2", func(m *meeting.Meeting) error {
		m.Status = meeting.StatusInactive
		return nil
	})) // r2 is ending
	is.NoErr(s.Delete(ctx, "r3")) // r3 ended
	// A Create that died between its two steps left an entry without a record.
	is.NoErr(rdb.ZAdd(ctx, redismeeting.IndexKey(s), redis.Z{Score: float64(clk.Now().UnixMilli()), Member: "ghost"}).Err())

	index := func() []string {
		rooms, err := rdb.ZRange(ctx, redismeeting.IndexKey(s), 0, -1).Result()
		is.NoErr(err) // the index
		slices.Sort(rooms)
		return rooms
	}
	active, err := s.Active(ctx)
	is.NoErr(err)                                          // active
	is.Equal(len(active), 1)                               // r1 alone is active
	is.Equal(active[0], sample("r1"))                      // the whole record
	is.Equal(index(), []string{"ghost", "r1", "r2", "r3"}) // young entries stay: their Create may be running

	clk.Advance(2 * time.Minute)
	active, err = s.Active(ctx)
	is.NoErr(err)                           // active
	is.Equal(len(active), 1)                // still r1
	is.Equal(index(), []string{"r1"})       // stale entries are gone
	is.NoErr(s.Create(ctx, sample("r2")))   // a new meeting in r2
	is.Equal(index(), []string{"r1", "r2"}) // is listed again
	is.NoErr(s.Delete(ctx, "r1"))           // an old meeting's end
	is.Equal(index(), []string{"r2"})       // removes its entry at once
}

func TestUpdateContention(t *testing.T) {
	is := is.New(t)
	s, _ := newStore(t, &redismeeting.Options{MaxAttempts: 1})
	is.NoErr(s.Create(ctx, sample("r1"))) // create
	err := s.Update(ctx, "r1", func(m *meeting.Meeting) error {
		// Another writer gets in between the read and the write.
		is.NoErr(s.Update(ctx, "r1", func(m *meeting.Meeting) error { m.EmptySince = 1; return nil })) // the other write
		m.EmptySince = 2
		return nil
	})
	is.True(errors.Is(err, meeting.ErrConflict)) // one attempt, and the version changed
	got, err := s.Get(ctx, "r1")
	is.NoErr(err)                      // get
	is.Equal(got.EmptySince, int64(1)) // the other write stands

	s2, _ := newStore(t, nil)
	is.NoErr(s2.Create(ctx, sample("r1"))) // create
	calls := 0
	err = s2.Update(ctx, "r1", func(m *meeting.Meeting) error {
		calls++
		if calls == 1 {
			is.NoErr(s2.Update(ctx, "r1", func(m *meeting.Meeting) error { m.EmptySince = 1; return nil })) // the other write
		}
		m.EmptySince += 10
		return nil
	})
	is.NoErr(err)      // retried
	is.Equal(calls, 2) // f ran again on the fresh record
	got, err = s2.Get(ctx, "r1")
	is.NoErr(err)                       // get
	is.Equal(got.EmptySince, int64(11)) // both writes count
}

func TestOutage(t *testing.T) {
	is := is.New(t)
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: 1, DialTimeout: 200 * time.Millisecond, DialerRetries: 1})
	t.Cleanup(func() { _ = rdb.Close() })
	s, err := redismeeting.New(ctx, rdb, &redismeeting.Options{Prefix: redistest.Prefix(t)})
	is.NoErr(err)                         // Redis answers at start
	is.NoErr(s.Create(ctx, sample("r1"))) // Redis is up

	srv.Stop()
	// Each call gets a deadline of its own, far longer than the client's dial retries, so that
	// every one reports the dial failure rather than an exhausted shared deadline.
	call := func() context.Context {
		c, cancel := context.WithTimeout(ctx, 3*time.Second)
		t.Cleanup(cancel)
		return c
	}
	now := time.Now()
	down := map[string]error{}
	down["create"] = s.Create(call(), sample("r2"))
	_, down["get"] = s.Get(call(), "r1")
	down["update"] = s.Update(call(), "r1", func(*meeting.Meeting) error { return nil })
	down["delete"] = s.Delete(call(), "r1")
	_, down["active in"] = s.ActiveIn(call(), []string{"r1"})
	_, down["active"] = s.Active(call())
	_, down["acquire"] = s.Acquire(call(), "r1", "a", now, time.Minute)
	down["release"] = s.Release(call(), "r1", "a")
	for op, err := range down {
		t.Run(op, func(t *testing.T) {
			is := is.New(t)
			is.True(errors.Is(err, signaling.ErrUnavailable)) // Redis down: unavailable
		})
	}

	srv.Restart()                                                                                  // an empty server: no data, no scripts loaded
	is.NoErr(s.Create(ctx, sample("r1")))                                                          // works again
	is.NoErr(s.Update(ctx, "r1", func(m *meeting.Meeting) error { m.EmptySince = 5; return nil })) // scripts are loaded again
	ok, err := s.Acquire(ctx, "r1", "a", now, time.Minute)
	is.NoErr(err) // leases too
	is.True(ok)   // taken
	active, err := s.Active(ctx)
	is.NoErr(err)            // and the index
	is.Equal(len(active), 1) // lists r1
}

// TestNewChecksPrefixAndRedis: New refuses a prefix with a hash-tag brace, and a Redis that
// does not answer, with an error wrapping signaling.ErrUnavailable.
func TestNewChecksPrefixAndRedis(t *testing.T) {
	is := is.New(t)
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond, DialerRetries: 1})
	t.Cleanup(func() { _ = rdb.Close() })
	ctx := context.Background()
	_, err := redismeeting.New(ctx, rdb, &redismeeting.Options{Prefix: "app:{x}:"})
	is.True(err != nil) // a brace in the prefix is refused
	_, err = redismeeting.New(ctx, rdb, &redismeeting.Options{Prefix: redistest.Prefix(t)})
	is.NoErr(err) // Redis answers
	srv.Stop()
	_, err = redismeeting.New(ctx, rdb, &redismeeting.Options{Prefix: redistest.Prefix(t)})
	is.True(errors.Is(err, signaling.ErrUnavailable)) // a Redis that does not answer fails at start
}
