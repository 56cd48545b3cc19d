package signaling

import (
	"sync"

	"github.com/huddle-go/huddle/internal/serial"
)

// controlPlane is the node's side of the messages between nodes that are not events: handover
// requests, offers, commits and tails, and the acknowledgements of subscription changes. They
// arrive on subscriptions of their own (Node.ensureControlTopics), apart from the topics that
// carry events, and the work they start runs on queue, off the Broker's delivery goroutine.
type controlPlane struct {
	queue serial.Queue

	mu       sync.Mutex
	sub      func() error              // cancels the control topics' subscriptions
	subbing  chan struct{}             // closed when a subscription in progress ends
	handover map[string]chan brokerMsg // session id → the adopting Serve call
	acks     map[string]chan bool      // subscription changes waiting for other nodes (topics.go)
}

// awaitHandover registers an adoption of session sid waiting for the holder's replies; forget
// unregisters it.
func (c *controlPlane) awaitHandover(sid string) (replies chan brokerMsg, forget func()) {
	ch := make(chan brokerMsg, 2)
	c.mu.Lock()
	if c.handover == nil {
		c.handover = map[string]chan brokerMsg{}
	}
	c.handover[sid] = ch
	c.mu.Unlock()
	return ch, func() {
		c.mu.Lock()
		delete(c.handover, sid)
		c.mu.Unlock()
	}
}

// handoverReply hands an offer or a tail to the adoption waiting for it, if any; it never
// blocks. m.body is copied: the Broker may reuse it.
func (c *controlPlane) handoverReply(m brokerMsg) {
	c.mu.Lock()
	ch := c.handover[m.arg]
	c.mu.Unlock()
	if ch == nil {
		return
	}
	m.body = append([]byte(nil), m.body...)
	select {
	case ch <- m:
	default:
	}
}

// awaitAcks registers a subscription change waiting for acknowledgements.
func (c *controlPlane) awaitAcks(pid string) chan bool {
	ch := make(chan bool, 64)
	c.mu.Lock()
	if c.acks == nil {
		c.acks = map[string]chan bool{}
	}
	c.acks[pid] = ch
	c.mu.Unlock()
	return ch
}

func (c *controlPlane) forgetAcks(pid string) {
	c.mu.Lock()
	delete(c.acks, pid)
	c.mu.Unlock()
}

// acked records one node's acknowledgement of a subscription change; it never blocks.
func (c *controlPlane) acked(pid string, ok bool) {
	c.mu.Lock()
	ch := c.acks[pid]
	c.mu.Unlock()
	if ch != nil {
		select {
		case ch <- ok:
		default: // more nodes than the buffer: the waiter is well past needing this one
		}
	}
}

// takeSub returns the control topics' cancel, once, for Shutdown.
func (c *controlPlane) takeSub() func() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	sub := c.sub
	c.sub = nil
	return sub
}

// control runs f after the control work queued before it, on the node's control queue, not on
// the Broker's delivery goroutine: control work subscribes, and a Broker's Subscribe may wait
// for its delivery goroutine to confirm.
func (n *Node) control(f func()) {
	if n.ctx.Err() != nil {
		return // shut down: subscribing now would leak what Shutdown released
	}
	if _, ok := n.broker.(inlineControl); ok {
		f() // the broker's Subscribe never waits on its delivery: keep in-process clusters synchronous
		return
	}
	n.cp.queue.Do(func() {
		if n.ctx.Err() == nil {
			f()
		}
	})
}
