package signaling

// Per-user limits: a user holds at most MaxSessionsPerUser sessions on a node, so that one
// account that connects and drops in a loop cannot hold memory without bound. Each session
// holds at most ResumeBuffer events / ResumeBufferBytes for resume and, while attached,
// QueueBytes of outbound frames and 256 KiB of inbound ones.

// registerLocked lists s among its user's sessions; n.mu is held. When the user is over
// MaxSessionsPerUser it returns the user's other sessions, oldest first, for evict.
func (n *Node) registerLocked(s *Session) []*Session {
	list := append(n.byUser[s.user.ID], s)
	n.byUser[s.user.ID] = list
	if len(list) <= n.opts.MaxSessionsPerUser {
		return nil
	}
	return append([]*Session(nil), list[:len(list)-1]...)
}

// unregisterLocked removes s from its user's sessions; n.mu is held.
func (n *Node) unregisterLocked(s *Session) {
	list := n.byUser[s.user.ID]
	for i, o := range list {
		if o == s {
			list = append(list[:i:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(n.byUser, s.user.ID)
	} else {
		n.byUser[s.user.ID] = list
	}
}

// evict keeps a user within MaxSessionsPerUser: of others (the user's other sessions, oldest
// first; the new one has one more), it ends the oldest dropped ones first, then the oldest
// attached, closed with 1008 after their queue.
func (n *Node) evict(others []*Session) {
	over := len(others) + 1 - n.opts.MaxSessionsPerUser
	if over <= 0 {
		return
	}
	victims := make([]*Session, 0, over)
	for _, dropped := range [...]bool{true, false} {
		for _, o := range others {
			if len(victims) == over {
				break
			}
			o.mu.Lock()
			isDropped := o.att == nil
			o.mu.Unlock()
			if isDropped == dropped {
				victims = append(victims, o)
			}
		}
	}
	for _, v := range victims {
		n.stats.evicted.Add(1)
		n.log.Info("too many sessions for one user: ending the oldest", "session", v.id, "user", v.user.ID)
		v.Close(StatusPolicyViolation, "too many sessions")
	}
}
