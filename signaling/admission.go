package signaling

import (
	"sync/atomic"
	"time"
)

// Admission control: a node that is past what it can carry (a slow store, a saturated core)
// refuses new work at once instead of queueing it until it times out. The events of each name
// that are queued for a dispatcher or being handled are counted; a frame that arrives while
// its event has NodeOptions.MaxPendingEvents of them is answered `unavailable` with a retry
// hint at once, without reaching its handler, so nothing of it was applied. The events
// already admitted go on, so their wait is bounded by the bound, and the node takes new ones
// as soon as the backlog drops under it. `ping` has no handler and is never refused; an event
// that piles up (the one a stuck backend serves) is refused while the others are not.

// overloadRetry is the retry hint sent with a refusal (Error.RetryAfterMs).
const overloadRetry = time.Second

// admit counts a frame of event e for its dispatcher and returns its counter, or returns the
// refusal to send when the event is over its bound. A nil counter and nil refusal: not counted
// (no handler, or no bound).
func (n *Node) admit(e Envelope) (*atomic.Int64, *Error) {
	if n.opts.MaxPendingEvents < 0 {
		return nil, nil
	}
	n.hmu.RLock()
	c := n.pending[e.Event]
	n.hmu.RUnlock()
	if c == nil {
		return nil, nil
	}
	if c.Add(1) > int64(n.opts.MaxPendingEvents) {
		c.Add(-1)
		n.stats.shed.Add(1)
		return nil, &Error{Code: CodeUnavailable, Message: "server overloaded; nothing was changed, try again later",
			Event: e.Event, Ref: e.Ref, RetryAfterMs: overloadRetry.Milliseconds()}
	}
	return c, nil
}
