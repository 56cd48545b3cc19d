package chat_test

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/huddle-go/huddle/chat"
	"github.com/huddle-go/huddle/signaling"
	"github.com/huddle-go/huddle/signaling/signalingtest"
	"github.com/matryer/is"
)

// gatedStore is a chat store slowed down by a test hook: each Append reports its message on
// entered, then waits until gate is closed.
type gatedStore struct {
	*chat.MemoryStore
	gate    chan struct{}
	entered chan string // the content of each Append that began
	waiting atomic.Int64
	most    atomic.Int64 // the most Appends waiting at once
}

func (g *gatedStore) Append(ctx context.Context, m chat.Message) (chat.Message, bool, error) {
	n := g.waiting.Add(1)
	defer g.waiting.Add(-1)
	for {
		most := g.most.Load()
		if n <= most || g.most.CompareAndSwap(most, n) {
			break
		}
	}
	g.entered <- m.Content
	select {
	case <-g.gate:
	case <-ctx.Done():
		return chat.Message{}, false, ctx.Err()
	}
	return g.MemoryStore.Append(ctx, m)
}

// TestOverloadRefusesAtOnce drives a node past what it can carry: its store is stuck, and more
// messages arrive than MaxPendingEvents. The ones over the bound are refused `unavailable` with
// a retry hint while the store is still stuck (the call timeout is an hour, so the refusal is
// not a timeout); the store never has more than the bound waiting (the admitted messages' wait
// is bounded by it); every admitted message is acknowledged and delivered once the store
// moves, none of the refused ones is; and a refused message sent again is admitted as soon as
// the backlog is gone.
func TestOverloadRefusesAtOnce(t *testing.T) {
	is := is.New(t)
	const bound, senders = 4, 10
	n := newNode(t, &signaling.NodeOptions{MaxPendingEvents: bound})
	mem := chat.NewMemoryStore(nil)
	st := &gatedStore{MemoryStore: mem, gate: make(chan struct{}), entered: make(chan string, senders)}
	newService(t, n, &chat.Options{Store: st, Membership: mem, CallTimeout: time.Hour})

	reader := connect(t, n, "reader")
	join(t, reader, "r")
	cs := make([]*signalingtest.Client, senders)
	for i := range cs {
		cs[i] = connect(t, n, fmt.Sprint("s", i))
		join(t, cs[i], "r")
	}
	reader.Drain() // member_joined of the senders
	for i, c := range cs {
		c.SendRef("message", map[string]string{"roomId": "r", "content": fmt.Sprint("m", i), "clientMsgId": fmt.Sprint("c", i)}, fmt.Sprint("ref", i))
	}

	// bound messages reach the store and wait there; the others are refused meanwhile.
	admitted := map[string]bool{}
	for range bound {
		admitted[<-st.entered] = true
	}
	var refused []int
	for i, c := range cs {
		if admitted[fmt.Sprint("m", i)] {
			continue
		}
		f := c.Expect("error", wait)
		var e signaling.Error
		is.NoErr(f.Bind(&e))
		is.Equal(e.Code, signaling.CodeUnavailable) // refused as unavailable
		is.True(e.RetryAfterMs > 0)                 // with a hint of when to try again
		is.Equal(e.Event, "message")                // naming the event
		is.Equal(f.Ref, fmt.Sprint("ref", i))       // and echoing its ref
		refused = append(refused, i)
	}
	is.Equal(len(refused), senders-bound)  // every message over the bound was refused…
	is.Equal(len(st.entered), 0)           // …without reaching the store,
	is.Equal(st.most.Load(), int64(bound)) // which never had more than the bound waiting
	is.Equal(n.Stats().Shed, int64(senders-bound))

	// The store moves: every admitted message is acknowledged and delivered; no refused one is.
	close(st.gate)
	var want []string
	for c := range admitted {
		want = append(want, c)
	}
	slices.Sort(want)
	for _, c := range append([]*signalingtest.Client{reader}, cs...) {
		var got []string
		for range bound {
			m, _ := expectMessage(t, c)
			got = append(got, m.Content)
		}
		slices.Sort(got)
		is.Equal(got, want) // every member (the senders' acknowledgements included) got the admitted ones
	}
	reader.Sync(wait)
	reader.ExpectQuiet("message") // nothing of the refused messages

	// Recovery: the backlog is gone, so a refused message sent again is admitted and delivered.
	i := refused[0]
	cs[i].SendRef("message", map[string]string{"roomId": "r", "content": fmt.Sprint("m", i), "clientMsgId": fmt.Sprint("c", i)}, "again")
	is.Equal(<-st.entered, fmt.Sprint("m", i)) // admitted to the store
	m, _ := expectMessage(t, reader)
	is.Equal(m.Content, fmt.Sprint("m", i)) // and delivered
}

// TestOverloadSpareOtherEvents: while `message` is over its bound, other events (a history
// read, a ping) are not refused: only the event that piles up is.
func TestOverloadSpareOtherEvents(t *testing.T) {
	is := is.New(t)
	n := newNode(t, &signaling.NodeOptions{MaxPendingEvents: 1})
	mem := chat.NewMemoryStore(nil)
	st := &gatedStore{MemoryStore: mem, gate: make(chan struct{}), entered: make(chan string, 4)}
	newService(t, n, &chat.Options{Store: st, Membership: mem, CallTimeout: time.Hour})
	defer close(st.gate)
	a, b := connect(t, n, "alice"), connect(t, n, "bob")
	join(t, a, "r")
	join(t, b, "r")
	say(a, "r", "stuck")
	is.Equal(<-st.entered, "stuck") // alice's message holds the only place
	say(b, "r", "refused")
	code, _ := b.ExpectError(wait)
	is.Equal(code, signaling.CodeUnavailable) // bob's message is over the bound
	b.SendRef("get_history", map[string]string{"roomId": "r"}, "h")
	h, f := expectHistory(t, b)
	is.Equal(f.Ref, "h")         // a history read is answered meanwhile
	is.Equal(len(h.Messages), 0) // (nothing stored yet)
	barrier(t, b)                // and so is a ping
	is.Equal(n.Stats().Shed, int64(1))
}
