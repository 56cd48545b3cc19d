package signaling

import (
	"context"
	"fmt"
)

// Shutdown stops accepting sessions, flushes every session's queue and closes it with 1012
// (clients reconnect and resume), then waits for the sessions to end or ctx to be done. Sessions
// waiting for a resume are released. It is safe to call more than once.
func (n *Node) Shutdown(ctx context.Context) error {
	n.mu.Lock()
	n.closing = true
	all := make([]*Session, 0, len(n.sessions))
	for _, s := range n.sessions {
		all = append(all, s)
	}
	n.mu.Unlock()
	var atts []*attachment
	for _, s := range all {
		s.mu.Lock()
		if s.expiry != nil {
			s.expiry.Stop()
			s.expiry = nil
		}
		if s.att != nil {
			atts = append(atts, s.att)
		}
		s.mu.Unlock()
	}
	for _, a := range atts {
		a.close(StatusServiceRestart, "server restarting", true)
	}
	done := make(chan struct{})
	go func() {
		n.serving.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("signaling: shutdown: %w", ctx.Err())
		for _, a := range atts {
			a.abort()
		}
	}
	if err == nil && n.opts.ShutdownHandover > 0 && n.opts.HandoverTimeout > 0 {
		n.awaitHandovers(ctx)
	}
	n.cancel()
	if err == nil {
		<-done
	}
	// Release broker subscriptions.
	var cancels []func() error
	n.subMu.Lock()
	for topic, t := range n.topics {
		if t.cancel != nil {
			cancels = append(cancels, t.cancel)
		}
		delete(n.topics, topic)
	}
	n.subMu.Unlock()
	for _, c := range cancels {
		_ = c()
	}
	if cancel := n.cp.takeSub(); cancel != nil {
		_ = cancel() // outside the lock: no lock across I/O
	}
	return err
}
