package redispresence_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/huddle-go/huddle/internal/redistest"
	"github.com/huddle-go/huddle/internal/storetest"
	"github.com/huddle-go/huddle/presence"
	"github.com/huddle-go/huddle/presence/redispresence"
	"github.com/huddle-go/huddle/signaling"
	"github.com/matryer/is"
	"github.com/redis/go-redis/v9"
)

func TestMain(m *testing.M) { os.Exit(redistest.Main(m)) }

var t0 = time.Date(2026, 3, 4, 5, 6, 7, 890_000_000, time.UTC)

// newStore returns a Store on the shared test Redis under a prefix of its own, and its client.
func newStore(t *testing.T) (*redispresence.Store, redis.UniversalClient, string) {
	t.Helper()
	prefix := redistest.Prefix(t)
	rdb := redistest.Client(t, redistest.Addr(t), prefix)
	return newStoreOn(t, rdb, prefix), rdb, prefix
}

// newStoreOn returns a Store on rdb under prefix.
func newStoreOn(t *testing.T, rdb redis.UniversalClient, prefix string) *redispresence.Store {
	t.Helper()
	s, err := redispresence.New(context.Background(), rdb, &redispresence.Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestContract(t *testing.T) {
	storetest.Presence(t, func(t *testing.T) presence.Store {
		s, _, _ := newStore(t)
		return s
	})
}

// TestContractSmallBatches runs the contract with every reap claiming one session at a time, so
// that dead nodes are always claimed over several scripts.
func TestContractSmallBatches(t *testing.T) {
	storetest.Presence(t, func(t *testing.T) presence.Store {
		s, _, _ := newStore(t)
		redispresence.SetBatch(s, 1)
		return s
	})
}

func TestKeysShareOneHashTag(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	s, rdb, prefix := newStore(t)
	_, err := s.AddSession(ctx, "u:1", "s:1", "n:1")
	is.NoErr(err)
	_, err = s.AddSession(ctx, "u2", "s2", "n2")
	is.NoErr(err)
	_, err = s.SetStatus(ctx, "u2", presence.StatusAway)
	is.NoErr(err)
	_, err = s.Heartbeat(ctx, "n:1", t0)
	is.NoErr(err)
	_, err = s.RemoveSession(ctx, "u2", "s2", t0)
	is.NoErr(err)
	_, err = s.Heartbeat(ctx, "n3", t0)
	is.NoErr(err)
	_, err = s.AddSession(ctx, "u3", "s3", "n3")
	is.NoErr(err)
	gone, err := s.Expire(ctx, t0)
	is.NoErr(err)
	is.Equal(len(gone), 2) // u:1 and u3 went offline with their nodes

	keys, err := rdb.Keys(ctx, prefix+"*").Result()
	is.NoErr(err)
	is.True(len(keys) > 0) // the store wrote keys
	for _, k := range keys {
		is.True(strings.HasPrefix(k, prefix+"{presence}:")) // every key is in the {presence} slot
	}
}

func TestBatchedReapReportsEachUserOnce(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	s, _, _ := newStore(t)
	redispresence.SetBatch(s, 2)
	_, err := s.Heartbeat(ctx, "dead", t0)
	is.NoErr(err)
	const users = 50
	for i := range users {
		// Three sessions each, so a user's sessions are claimed in different batches.
		for j := range 3 {
			_, err := s.AddSession(ctx, fmt.Sprint("u", i), fmt.Sprint("s", i, "-", j), "dead")
			is.NoErr(err)
		}
	}
	_, err = s.AddSession(ctx, "u0", "elsewhere", "alive")
	is.NoErr(err)

	results := make(chan []presence.Entry, 3)
	for range 3 {
		go func() {
			gone, err := s.Expire(ctx, t0.Add(time.Second))
			if err != nil {
				t.Errorf("Expire: %v", err)
			}
			results <- gone
		}()
	}
	seen := map[string]int{}
	for range 3 {
		for _, e := range <-results {
			seen[e.UserID]++
			is.True(e.LastSeen.Equal(t0.Add(time.Second))) // last seen when expired
		}
	}
	is.Equal(len(seen), users-1) // every user with sessions only on the dead node is reported
	is.Equal(seen["u0"], 0)      // u0 keeps its session on another node
	for _, n := range seen {
		is.Equal(n, 1) // each user to one caller only
	}
	reaped, err := s.Heartbeat(ctx, "dead", t0.Add(time.Minute))
	is.NoErr(err)
	is.True(reaped) // the dead node learns it was reaped
}

func TestRedisOutage(t *testing.T) {
	is := is.New(t)
	srv := redistest.Start(t)
	prefix := redistest.Prefix(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond, DialerRetries: 1})
	t.Cleanup(func() { _ = rdb.Close() })
	s := newStoreOn(t, rdb, prefix)
	ctx := context.Background()
	first, err := s.AddSession(ctx, "u1", "s1", "n1")
	is.NoErr(err)  // Redis is up
	is.True(first) // u1 came online

	srv.Stop()
	calls := map[string]func(context.Context) error{
		"AddSession": func(ctx context.Context) error {
			_, err := s.AddSession(ctx, "u1", "s2", "n1")
			return err
		},
		"RemoveSession": func(ctx context.Context) error {
			_, err := s.RemoveSession(ctx, "u1", "s1", t0)
			return err
		},
		"SetStatus": func(ctx context.Context) error {
			_, err := s.SetStatus(ctx, "u1", presence.StatusAway)
			return err
		},
		"Get": func(ctx context.Context) error {
			_, err := s.Get(ctx, []string{"u1"})
			return err
		},
		"Heartbeat": func(ctx context.Context) error {
			_, err := s.Heartbeat(ctx, "n1", t0)
			return err
		},
		"Expire": func(ctx context.Context) error {
			_, err := s.Expire(ctx, t0)
			return err
		},
		"RemoveNode": func(ctx context.Context) error {
			_, err := s.RemoveNode(ctx, "n1", t0)
			return err
		},
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			is := is.New(t)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			err := call(ctx)
			is.True(errors.Is(err, signaling.ErrUnavailable))                                                         // a Redis failure is unavailable
			is.True(strings.HasPrefix(err.Error(), "redispresence: "))                                                // named for the package
			is.True(!errors.Is(err, presence.ErrInvalidStatus))                                                       // and nothing else
			is.True(ctx.Err() == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) // it did not hang past its context
		})
	}
	_, err = s.SetStatus(ctx, "u1", "busy")
	is.True(errors.Is(err, presence.ErrInvalidStatus)) // domain errors stay what they are
	is.True(!errors.Is(err, signaling.ErrUnavailable)) // even while Redis is down

	srv.Restart() // an empty server: no data, no cached scripts
	first, err = s.AddSession(ctx, "u1", "s3", "n1")
	is.NoErr(err)  // works again, loading its scripts anew
	is.True(first) // the restarted Redis lost u1's earlier session
	es, err := s.Get(ctx, []string{"u1"})
	is.NoErr(err)
	is.Equal(es[0].Status, presence.StatusOnline) // and reads work again
}

// TestNewChecksPrefixAndRedis: New refuses a prefix with a hash-tag brace, and a Redis that
// does not answer, with an error wrapping signaling.ErrUnavailable.
func TestNewChecksPrefixAndRedis(t *testing.T) {
	is := is.New(t)
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond, DialerRetries: 1})
	t.Cleanup(func() { _ = rdb.Close() })
	ctx := context.Background()
	_, err := redispresence.New(ctx, rdb, &redispresence.Options{Prefix: "app:{x}:"})
	is.True(err != nil) // a brace in the prefix is refused
	_, err = redispresence.New(ctx, rdb, &redispresence.Options{Prefix: redistest.Prefix(t)})
	is.NoErr(err) // Redis answers
	srv.Stop()
	_, err = redispresence.New(ctx, rdb, &redispresence.Options{Prefix: redistest.Prefix(t)})
	is.True(errors.Is(err, signaling.ErrUnavailable)) // a Redis that does not answer fails at start
}
