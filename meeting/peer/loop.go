package peer

import (
	"bytes"
	"encoding/json"
	"maps"
	"sync"

	"github.com/huddle-go/huddle/signaling"
	"github.com/huddle-go/huddle/signaling/ws"
	"github.com/pion/webrtc/v4"
	"golang.org/x/time/rate"
)

// maxPendingCandidates bounds the remote candidates kept per user while no description applies.
const maxPendingCandidates = 200

// signal is an outbound `video-signal`. Inbound ones carry `senderId` too (set by the server).
type signal struct {
	Type      string                   `json:"type"`
	RoomID    string                   `json:"roomId"`
	TargetID  string                   `json:"targetId"`
	SDP       string                   `json:"sdp,omitempty"`
	Candidate *webrtc.ICECandidateInit `json:"candidate,omitempty"`
}

type inSignal struct {
	Type      string          `json:"type"`
	RoomID    string          `json:"roomId"`
	SenderID  string          `json:"senderId"`
	SDP       json.RawMessage `json:"sdp"`
	Candidate json.RawMessage `json:"candidate"`
}

// sdp returns the SDP text, also when a client sent the whole RTCSessionDescription.
func (s inSignal) sdp() string {
	raw := bytes.TrimSpace(s.SDP)
	var text string
	if len(raw) > 0 && raw[0] == '{' {
		var d struct {
			SDP string `json:"sdp"`
		}
		_ = json.Unmarshal(raw, &d)
		return d.SDP
	}
	_ = json.Unmarshal(raw, &text)
	return text
}

// candidate returns the RTCIceCandidateInit, also when a client sent the bare candidate line.
func (s inSignal) candidate() (webrtc.ICECandidateInit, bool) {
	raw := bytes.TrimSpace(s.Candidate)
	var c webrtc.ICECandidateInit
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return c, false
	}
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &c.Candidate); err != nil {
			return c, false
		}
		return c, true
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return c, false
	}
	return c, true
}

// loop handles the server's events one at a time, in order, plus the operations posted to
// it. All negotiation happens here, so it needs no further locking.
func (p *Peer) loop() {
	defer p.wg.Done()
	defer close(p.loopDone)
	events := p.client.Events()
	// After a failed resume the loop joins again; the connections it had then may lead to
	// users who left unseen. Those the rejoin's participant list lacks are dropped.
	var rejoining map[string]*remote
	for {
		select {
		case <-p.ctx.Done():
			return
		case f := <-p.ops:
			f()
		case <-p.resumeFailed:
			if room := p.Room(); room != "" {
				p.log.Info("peer: resume failed; joining the meeting again", "room", room)
				p.mu.Lock()
				rejoining = maps.Clone(p.remotes)
				p.mu.Unlock()
				p.out.push(outMsg{event: "join_meeting", data: map[string]string{"roomId": room}})
			}
		case e, ok := <-events:
			if !ok {
				// The client gave up (or was closed): this Peer is done.
				p.log.Warn("peer: connection to the server lost for good", "err", p.client.Err())
				return
			}
			if rejoining != nil {
				switch {
				case isErrorFor(e, "join_meeting"):
					if room := p.Room(); room != "" {
						p.log.Warn("peer: rejoin failed; leaving the meeting", "room", room, "err", serverError(e))
						p.leaveRoomLoop(room)
					}
					rejoining = nil
				case e.Event == "meeting_joined" && roomOf(e.Data) == p.Room():
					p.pruneAfterRejoin(e, rejoining)
					rejoining = nil
				}
			}
			p.handle(e)
			p.wake(e)
			if f := p.opts.OnEvent; f != nil {
				f(e)
			}
		}
	}
}

// pruneAfterRejoin closes the connections, among those kept over a failed resume, to users
// that are no longer participants.
func (p *Peer) pruneAfterRejoin(e ws.Event, kept map[string]*remote) {
	var v struct {
		Participants []signaling.User `json:"participants"`
	}
	if err := json.Unmarshal(e.Data, &v); err != nil {
		return
	}
	in := map[string]bool{}
	for _, u := range v.Participants {
		in[u.ID] = true
	}
	for id, r := range kept {
		p.mu.Lock()
		current := p.remotes[id] == r
		p.mu.Unlock()
		if current && !in[id] {
			p.log.Debug("peer: dropping the connection to a user who left unseen", "remote", id)
			p.discard(id)
		}
	}
}

func (p *Peer) handle(e ws.Event) {
	room := p.Room()
	switch e.Event {
	case "meeting_user_joined":
		var v struct {
			User   signaling.User `json:"user"`
			RoomID string         `json:"roomId"`
			Rejoin bool           `json:"rejoin"`
		}
		if err := json.Unmarshal(e.Data, &v); err != nil || room == "" || v.RoomID != room || v.User.ID == "" || v.User.ID == p.User().ID {
			return
		}
		// The glare-free rule: whoever hears of the joiner offers. On a rejoin (a reload, a
		// lost session) the old connection is stale. A first join of a user we are already
		// negotiating with happens when two users join at once and each hears of the other:
		// the connection under way stands (offers that cross are settled in answer).
		p.mu.Lock()
		r := p.remotes[v.User.ID]
		p.mu.Unlock()
		if r != nil && !v.Rejoin && !r.dead() {
			p.log.Debug("peer: already connecting to a joiner", "remote", v.User.ID, "offerer", r.offerer)
			return
		}
		p.discard(v.User.ID)
		delete(p.pending, v.User.ID)
		p.offer(room, v.User.ID)
	case "video-signal":
		var s inSignal
		if err := json.Unmarshal(e.Data, &s); err != nil || room == "" || s.RoomID != room || s.SenderID == "" || s.SenderID == p.User().ID {
			return
		}
		switch s.Type {
		case "offer":
			p.answer(room, s.SenderID, s.sdp())
		case "answer":
			p.applyAnswer(s.SenderID, s.sdp())
		case "candidate":
			if c, ok := s.candidate(); ok {
				p.addCandidate(s.SenderID, c)
			}
		}
	case "meeting_user_left":
		var v struct {
			User   signaling.User `json:"user"`
			RoomID string         `json:"roomId"`
		}
		if err := json.Unmarshal(e.Data, &v); err != nil || room == "" || v.RoomID != room {
			return
		}
		p.discard(v.User.ID)
		delete(p.pending, v.User.ID)
	case "meeting_ended":
		if r := roomOf(e.Data); room != "" && r == room {
			p.leaveRoomLoop(room)
		}
	}
}

// offer creates a connection to userID and sends the offer.
func (p *Peer) offer(room, userID string) {
	r, err := p.newRemote(room, userID, true)
	if err != nil {
		p.log.Warn("peer: cannot connect", "remote", userID, "err", err)
		return
	}
	offer, err := r.pc.CreateOffer(nil)
	if err == nil {
		r.mu.Lock()
		r.localUfrag = sdpAttr(offer.SDP, "ice-ufrag")
		r.mu.Unlock()
		err = r.pc.SetLocalDescription(offer)
	}
	if err != nil {
		p.log.Warn("peer: offer failed", "remote", userID, "err", err)
		p.discard(userID)
		return
	}
	r.sendDescription(offer)
}

// answer applies an offer from userID and sends the answer. An offer from a user with a live
// connection of the same SDP session (o= line) and DTLS identity is a renegotiation; otherwise
// (a new connection on the other side, or a failed one here) the old connection is replaced.
func (p *Peer) answer(room, userID, sdp string) {
	if sdp == "" {
		return
	}
	p.mu.Lock()
	r := p.remotes[userID]
	p.mu.Unlock()
	if r != nil {
		switch {
		case r.offerer && r.pc.SignalingState() == webrtc.SignalingStateHaveLocalOffer:
			// Glare, which the join rule avoids; should it happen anyway, the smaller user
			// id keeps its offer and the other side answers.
			if p.User().ID < userID {
				p.log.Debug("peer: glare: keeping our offer", "remote", userID)
				return
			}
			p.discard(userID)
			r = nil
		case r.dead() || !r.remoteSet || sdpAttr(sdp, "fingerprint") != r.remoteFingerprint || sdpSessionID(sdp) != r.remoteSessionID:
			p.discard(userID)
			r = nil
		}
	}
	if r == nil {
		var err error
		if r, err = p.newRemote(room, userID, false); err != nil {
			p.log.Warn("peer: cannot connect", "remote", userID, "err", err)
			return
		}
	}
	err := r.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp})
	if err != nil {
		p.log.Warn("peer: bad offer", "remote", userID, "err", err)
		p.discard(userID)
		return
	}
	p.remoteDescriptionSet(r, sdp)
	ans, err := r.pc.CreateAnswer(nil)
	if err == nil {
		r.mu.Lock()
		r.localUfrag = sdpAttr(ans.SDP, "ice-ufrag")
		r.mu.Unlock()
		err = r.pc.SetLocalDescription(ans)
	}
	if err != nil {
		p.log.Warn("peer: answer failed", "remote", userID, "err", err)
		p.discard(userID)
		return
	}
	r.sendDescription(ans)
}

func (p *Peer) applyAnswer(userID, sdp string) {
	p.mu.Lock()
	r := p.remotes[userID]
	p.mu.Unlock()
	if r == nil || !r.offerer || r.pc.SignalingState() != webrtc.SignalingStateHaveLocalOffer {
		p.log.Debug("peer: ignoring an answer that fits no offer", "remote", userID)
		return
	}
	if err := r.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp}); err != nil {
		p.log.Warn("peer: bad answer", "remote", userID, "err", err)
		p.discard(userID)
		return
	}
	p.remoteDescriptionSet(r, sdp)
}

// remoteDescriptionSet records the remote ICE and DTLS identity and applies the candidates
// that came early.
func (p *Peer) remoteDescriptionSet(r *remote, sdp string) {
	r.remoteSet = true
	r.remoteUfrag = sdpAttr(sdp, "ice-ufrag")
	r.remoteFingerprint = sdpAttr(sdp, "fingerprint")
	r.remoteSessionID = sdpSessionID(sdp)
	early := p.pending[r.userID]
	delete(p.pending, r.userID)
	for _, c := range early {
		p.applyCandidate(r, c)
	}
}

// addCandidate applies a remote candidate, or keeps it until a description applies.
func (p *Peer) addCandidate(userID string, c webrtc.ICECandidateInit) {
	p.mu.Lock()
	r := p.remotes[userID]
	p.mu.Unlock()
	if r == nil || !r.remoteSet {
		if len(p.pending[userID]) < maxPendingCandidates {
			p.pending[userID] = append(p.pending[userID], c)
		}
		return
	}
	p.applyCandidate(r, c)
}

func (p *Peer) applyCandidate(r *remote, c webrtc.ICECandidateInit) {
	if c.UsernameFragment != nil && *c.UsernameFragment != "" && r.remoteUfrag != "" && *c.UsernameFragment != r.remoteUfrag {
		p.log.Debug("peer: dropping a candidate of an earlier connection", "remote", r.userID)
		return
	}
	if err := r.pc.AddICECandidate(c); err != nil {
		p.log.Debug("peer: bad candidate", "remote", r.userID, "err", err)
	}
}

// discard forgets the connection to userID and closes it in the background.
func (p *Peer) discard(userID string) {
	p.mu.Lock()
	r := p.remotes[userID]
	var gen int
	if r != nil {
		gen = r.st.Generation
		delete(p.remotes, userID)
		p.notifyLocked()
	}
	p.mu.Unlock()
	if r == nil {
		return
	}
	p.log.Debug("peer: closing connection", "remote", userID, "generation", gen)
	if !p.spawn(r.close) {
		r.close()
	}
}

// closeAllLoop closes every connection and waits until they are closed.
func (p *Peer) closeAllLoop() {
	p.mu.Lock()
	rs := make([]*remote, 0, len(p.remotes))
	for id, r := range p.remotes {
		rs = append(rs, r)
		delete(p.remotes, id)
	}
	p.notifyLocked()
	p.mu.Unlock()
	clear(p.pending)
	var wg sync.WaitGroup
	for _, r := range rs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.close()
		}()
	}
	wg.Wait()
}

// leaveRoomLoop leaves the meeting in room locally.
func (p *Peer) leaveRoomLoop(room string) {
	p.mu.Lock()
	if p.room == room {
		p.room = ""
	}
	p.mu.Unlock()
	p.closeAllLoop()
}

// outMsg is one event for the writer.
type outMsg struct {
	event string
	data  any
}

// outQueue is the writer's FIFO; it keeps signals in the order they were queued.
type outQueue struct {
	mu    sync.Mutex
	q     []outMsg
	ready chan struct{} // capacity 1
}

func (q *outQueue) push(m outMsg) {
	q.mu.Lock()
	q.q = append(q.q, m)
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

func (q *outQueue) take() []outMsg {
	q.mu.Lock()
	defer q.mu.Unlock()
	m := q.q
	q.q = nil
	return m
}

// writeLoop sends the queued signals, paced below the server's default rate limit (50/s,
// burst 100) so that a burst of candidates is not refused.
func (p *Peer) writeLoop() {
	defer p.wg.Done()
	lim := rate.NewLimiter(40, 80)
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-p.out.ready:
		}
		for _, m := range p.out.take() {
			if err := lim.Wait(p.ctx); err != nil {
				return
			}
			if err := p.client.Send(p.ctx, m.event, m.data); err != nil {
				if p.ctx.Err() != nil {
					return
				}
				p.log.Warn("peer: send failed", "event", m.event, "err", err)
			}
		}
	}
}
