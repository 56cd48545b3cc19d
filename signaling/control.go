package signaling

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
	n.ctrl.Do(func() {
		if n.ctx.Err() == nil {
			f()
		}
	})
}
