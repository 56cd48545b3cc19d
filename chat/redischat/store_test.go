package redischat_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/huddle-go/huddle/chat"
	"github.com/huddle-go/huddle/chat/redischat"
	"github.com/huddle-go/huddle/clock"
	"github.com/huddle-go/huddle/internal/redistest"
	"github.com/huddle-go/huddle/internal/storetest"
	"github.com/huddle-go/huddle/signaling"
	"github.com/matryer/is"
	"github.com/redis/go-redis/v9"
)

func TestMain(m *testing.M) { os.Exit(redistest.Main(m)) }

var (
	alice = signaling.User{ID: "alice", Username: "Alice"}
	bob   = signaling.User{ID: "bob", Username: "Bob"}
)

// newStore returns a Store on the shared test Redis under a prefix of the test's own, with its
// client, whose keys are deleted at cleanup.
func newStore(t *testing.T, opts *redischat.Options) (*redischat.Store, redis.UniversalClient, string) {
	t.Helper()
	prefix := redistest.Prefix(t)
	rdb := redistest.Client(t, redistest.Addr(t), prefix)
	var o redischat.Options
	if opts != nil {
		o = *opts
	}
	o.Prefix = prefix
	s, err := redischat.New(context.Background(), rdb, &o)
	if err != nil {
		t.Fatal(err)
	}
	return s, rdb, prefix
}

func TestContract(t *testing.T) {
	storetest.Chat(t, func(t *testing.T) (chat.Store, chat.Membership) {
		s, _, _ := newStore(t, nil)
		return s, s
	})
}

// TestContractSharded runs the contract with memberships written as on Cluster: in a plain
// pipeline, with Rooms checked against the members hashes.
func TestContractSharded(t *testing.T) {
	storetest.Chat(t, func(t *testing.T) (chat.Store, chat.Membership) {
		s, _, _ := newStore(t, nil)
		redischat.SetSharded(s)
		return s, s
	})
}

var tick = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

func message(t *testing.T, roomID string, from signaling.User, content string) chat.Message {
	t.Helper()
	id, err := uuid.NewV7()
	if err != nil {
		t.Fatal(err)
	}
	tick = tick.Add(time.Millisecond)
	return chat.Message{ID: id.String(), RoomID: roomID, Content: content, Sender: from, CreatedAt: tick, UpdatedAt: tick}
}

func contents(ms []chat.Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Content
	}
	return out
}

func keys(t *testing.T, rdb redis.UniversalClient, prefix string) []string {
	t.Helper()
	ks, err := rdb.Keys(context.Background(), prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range ks {
		ks[i] = strings.TrimPrefix(k, prefix)
	}
	slices.Sort(ks)
	return ks
}

func TestKeyLayout(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	s, rdb, prefix := newStore(t, nil)
	m := message(t, "r1", alice, "hi")
	m.ClientMsgID = "c1"
	_, _, err := s.Append(ctx, m)
	is.NoErr(err)                      // append
	is.NoErr(s.Join(ctx, "r1", alice)) // join
	is.Equal(keys(t, rdb, prefix), []string{
		"idem:5:alice:c1",
		"{room:r1}:log",
		"{room:r1}:members",
		"{room:r1}:msgs",
		"{user:alice}:rooms",
	}) // every key is under the prefix; a room's keys share one hash tag

	ttl, err := rdb.PTTL(ctx, prefix+"idem:5:alice:c1").Result()
	is.NoErr(err)                                                // PTTL
	is.True(ttl > 23*time.Hour && ttl <= chat.IdempotencyWindow) // the pair expires after the window

	is.NoErr(s.Leave(ctx, "r1", "alice"))                                                          // leave
	is.Equal(keys(t, rdb, prefix), []string{"idem:5:alice:c1", "{room:r1}:log", "{room:r1}:msgs"}) // the last member leaving leaves no membership keys
}

// TestClientMsgIDCannotNameAnotherSender: a client message id chosen to look like another
// sender's key must not reach that sender's message.
func TestClientMsgIDCannotNameAnotherSender(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	s, _, _ := newStore(t, nil)
	victim := signaling.User{ID: "a:b", Username: "V"}
	secret := message(t, "private", victim, "secret")
	secret.ClientMsgID = "c"
	_, _, err := s.Append(ctx, secret)
	is.NoErr(err) // the victim's message
	probe := message(t, "r1", signaling.User{ID: "a", Username: "A"}, "probe")
	probe.ClientMsgID = "b:c"
	got, existing, err := s.Append(ctx, probe)
	is.NoErr(err)                  // the probe
	is.True(!existing)             // a pair of its own
	is.Equal(got.Content, "probe") // not the victim's message
}

func TestIdempotencyWindow(t *testing.T) {
	storetest.ChatIdempotencyWindow(t, func(t *testing.T, clk clock.Clock) chat.Store {
		s, _, _ := newStore(t, &redischat.Options{Clock: clk})
		return s
	})
}

func TestMaxHistory(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	s, rdb, prefix := newStore(t, &redischat.Options{MaxHistory: 3})
	var ms []chat.Message
	for i := range 5 {
		m := message(t, "r1", alice, fmt.Sprint(i))
		_, _, err := s.Append(ctx, m)
		is.NoErr(err) // append
		ms = append(ms, m)
	}
	hist, more, err := s.History(ctx, "r1", "", 10)
	is.NoErr(err)                                     // history
	is.Equal(contents(hist), []string{"2", "3", "4"}) // the newest three are kept
	is.True(!more)                                    // nothing older is left
	_, _, err = s.History(ctx, "r1", ms[1].ID, 10)
	is.True(errors.Is(err, chat.ErrNotFound)) // a dropped message is no cursor
	n, err := rdb.HLen(ctx, prefix+"{room:r1}:msgs").Result()
	is.NoErr(err)         // HLEN
	is.Equal(n, int64(3)) // dropped bodies are deleted too

	u, _, _ := newStore(t, &redischat.Options{MaxHistory: -1})
	for i := range 5 {
		_, _, err := u.Append(ctx, message(t, "r1", alice, fmt.Sprint(i)))
		is.NoErr(err) // append
	}
	hist, _, err = u.History(ctx, "r1", "", 10)
	is.NoErr(err)          // history
	is.Equal(len(hist), 5) // a negative MaxHistory keeps everything
}

// TestHistoryKeepsAppendOrder: the log follows append order, not id order, so that ids made by
// nodes whose clocks disagree still page consistently.
func TestHistoryKeepsAppendOrder(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	s, _, _ := newStore(t, nil)
	a := message(t, "r1", alice, "a")
	b := message(t, "r1", bob, "b")
	_, _, err := s.Append(ctx, b)
	is.NoErr(err) // the later id first
	_, _, err = s.Append(ctx, a)
	is.NoErr(err) // the earlier id second
	hist, _, err := s.History(ctx, "r1", "", 10)
	is.NoErr(err)                                // history
	is.Equal(contents(hist), []string{"b", "a"}) // in append order
	hist, _, err = s.History(ctx, "r1", a.ID, 10)
	is.NoErr(err)                           // before the last appended
	is.Equal(contents(hist), []string{"b"}) // the one appended before it
}

func TestAppendSameIDTwice(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	s, _, _ := newStore(t, nil)
	m := message(t, "r1", alice, "once")
	_, existing, err := s.Append(ctx, m)
	is.NoErr(err)      // first
	is.True(!existing) // stored
	dup := m
	dup.Content = "twice"
	got, existing, err := s.Append(ctx, dup)
	is.NoErr(err)                 // same id again
	is.True(existing)             // already stored
	is.Equal(got.Content, "once") // the stored message comes back
	hist, _, err := s.History(ctx, "r1", "", 10)
	is.NoErr(err)                              // history
	is.Equal(contents(hist), []string{"once"}) // stored once
}

// TestRetryCompletesAnInterruptedAppend: an Append that claimed its client message id and then
// failed to store is completed by the retry, which reports it as new so that it gets published.
func TestRetryCompletesAnInterruptedAppend(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	s, _, _ := newStore(t, nil)
	lost := message(t, "r1", alice, "first try")
	lost.ClientMsgID = "c1"
	is.NoErr(redischat.ClaimOnly(ctx, s, lost)) // the first Append dies after claiming

	retry := message(t, "r1", alice, "retry")
	retry.ClientMsgID = "c1"
	got, existing, err := s.Append(ctx, retry)
	is.NoErr(err)             // the retry
	is.True(!existing)        // this call stored the message: the Service must publish it
	is.Equal(got.ID, lost.ID) // the first try's message, under its id

	got, existing, err = s.Append(ctx, retry)
	is.NoErr(err)             // another retry
	is.True(existing)         // now it is a plain repeat
	is.Equal(got.ID, lost.ID) // the same message
	hist, _, err := s.History(ctx, "r1", "", 10)
	is.NoErr(err)                                   // history
	is.Equal(contents(hist), []string{"first try"}) // stored once
}

// TestRetryInAnotherRoom: an interrupted Append completed by a retry aimed at another room is
// stored in its own room and reported as existing, so that the caller never publishes it to the
// room of the retry.
func TestRetryInAnotherRoom(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	s, _, _ := newStore(t, nil)
	lost := message(t, "r1", alice, "for r1")
	lost.ClientMsgID = "c1"
	is.NoErr(redischat.ClaimOnly(ctx, s, lost)) // the first Append dies after claiming

	retry := message(t, "r2", alice, "for r2")
	retry.ClientMsgID = "c1"
	got, existing, err := s.Append(ctx, retry)
	is.NoErr(err)             // the retry
	is.True(existing)         // not a new message of r2
	is.Equal(got.ID, lost.ID) // the claimed message
	hist, _, err := s.History(ctx, "r1", "", 10)
	is.NoErr(err)                                // history of r1
	is.Equal(contents(hist), []string{"for r1"}) // completed in its own room
	hist, _, err = s.History(ctx, "r2", "", 10)
	is.NoErr(err)          // history of r2
	is.Equal(len(hist), 0) // nothing stored in the retry's room
}

// TestConcurrentRepeatsReportOneNew: among concurrent Appends of one client message id, exactly
// one reports a new message, so that the Service publishes it once.
func TestConcurrentRepeatsReportOneNew(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	s, _, _ := newStore(t, nil)
	const n, ids = 40, 4
	msgs := make([]chat.Message, n)
	for i := range n {
		msgs[i] = message(t, "r1", alice, fmt.Sprint(i))
		msgs[i].ClientMsgID = fmt.Sprint("c", i%ids)
	}
	var wg sync.WaitGroup
	fresh := make([]bool, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			var existing bool
			_, existing, errs[i] = s.Append(ctx, msgs[i])
			fresh[i] = !existing
		})
	}
	wg.Wait()
	news := map[string]int{}
	for i := range n {
		is.NoErr(errs[i]) // every append succeeds
		if fresh[i] {
			news[msgs[i].ClientMsgID]++
		}
	}
	is.Equal(len(news), ids) // every client message id has a new message
	for _, k := range news {
		is.Equal(k, 1) // exactly one new message per client message id
	}
	hist, _, err := s.History(ctx, "r1", "", 100)
	is.NoErr(err)            // history
	is.Equal(len(hist), ids) // one message per client message id
}

// TestShardedRoomsIgnoresStaleEntries: on Cluster a Join racing a Leave may leave a room in the
// user's set that the room's hash no longer lists; Rooms must not report it.
func TestShardedRoomsIgnoresStaleEntries(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	s, rdb, _ := newStore(t, nil)
	redischat.SetSharded(s)
	is.NoErr(s.Join(ctx, "r1", alice))                                     // a real membership
	is.NoErr(rdb.SAdd(ctx, redischat.RoomsKey(s, "alice"), "ghost").Err()) // a stale entry
	rooms, err := s.Rooms(ctx, "alice")
	is.NoErr(err)                   // rooms
	is.Equal(rooms, []string{"r1"}) // the stale room is not reported
}

func TestOutage(t *testing.T) {
	is := is.New(t)
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: 1, DialTimeout: 200 * time.Millisecond, DialerRetries: 1})
	t.Cleanup(func() { _ = rdb.Close() })
	ctx := context.Background()
	s, err := redischat.New(ctx, rdb, &redischat.Options{Prefix: redistest.Prefix(t)})
	is.NoErr(err) // Redis answers at start

	before := message(t, "r1", alice, "before")
	_, _, err = s.Append(ctx, before)
	is.NoErr(err) // Redis is up

	srv.Stop()
	// Each call gets a deadline of its own, far longer than the client's dial retries, so that
	// every one reports the dial failure rather than an exhausted shared deadline.
	call := func() context.Context {
		c, cancel := context.WithTimeout(ctx, 3*time.Second)
		t.Cleanup(cancel)
		return c
	}
	m := message(t, "r1", alice, "during")
	_, _, err = s.Append(call(), m)
	is.True(errors.Is(err, signaling.ErrUnavailable)) // Append fails as unavailable
	m.ClientMsgID = "c1"
	_, _, err = s.Append(call(), m)
	is.True(errors.Is(err, signaling.ErrUnavailable)) // Append with a client message id fails as unavailable
	_, _, err = s.History(call(), "r1", "", 10)
	is.True(errors.Is(err, signaling.ErrUnavailable)) // History fails as unavailable
	err = s.Join(call(), "r1", alice)
	is.True(errors.Is(err, signaling.ErrUnavailable)) // Join fails as unavailable
	err = s.Leave(call(), "r1", "alice")
	is.True(errors.Is(err, signaling.ErrUnavailable)) // Leave fails as unavailable
	_, err = s.IsMember(call(), "r1", "alice")
	is.True(errors.Is(err, signaling.ErrUnavailable)) // IsMember fails as unavailable
	_, err = s.Members(call(), "r1")
	is.True(errors.Is(err, signaling.ErrUnavailable)) // Members fails as unavailable
	_, err = s.Rooms(call(), "alice")
	is.True(errors.Is(err, signaling.ErrUnavailable))  // Rooms fails as unavailable
	is.True(!errors.Is(err, context.DeadlineExceeded)) // the cause is the refused connection, not a timeout
	t.Logf("with Redis down: %v", err)

	srv.Restart() // an empty server: its script cache is empty too
	after := message(t, "r1", alice, "after")
	after.ClientMsgID = "c2"
	_, existing, err := s.Append(ctx, after)
	is.NoErr(err)      // the same client works again, reloading its scripts
	is.True(!existing) // a new message
	hist, _, err := s.History(ctx, "r1", "", 10)
	is.NoErr(err)                               // history after the restart
	is.Equal(contents(hist), []string{"after"}) // the restarted server kept nothing (no persistence in the test)
	is.NoErr(s.Join(ctx, "r1", alice))          // membership works again
	ok, err := s.IsMember(ctx, "r1", "alice")
	is.NoErr(err) // IsMember
	is.True(ok)   // joined
}

// TestNewChecksPrefixAndRedis: New refuses a prefix with a hash-tag brace, and a Redis that
// does not answer, with an error wrapping signaling.ErrUnavailable.
func TestNewChecksPrefixAndRedis(t *testing.T) {
	is := is.New(t)
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond, DialerRetries: 1})
	t.Cleanup(func() { _ = rdb.Close() })
	ctx := context.Background()
	_, err := redischat.New(ctx, rdb, &redischat.Options{Prefix: "app:{x}:"})
	is.True(err != nil) // a brace in the prefix is refused
	_, err = redischat.New(ctx, rdb, &redischat.Options{Prefix: redistest.Prefix(t)})
	is.NoErr(err) // Redis answers
	srv.Stop()
	_, err = redischat.New(ctx, rdb, &redischat.Options{Prefix: redistest.Prefix(t)})
	is.True(errors.Is(err, signaling.ErrUnavailable)) // a Redis that does not answer fails at start
}
