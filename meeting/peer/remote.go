package peer

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/pion/webrtc/v4"
)

// rtpNotifyEvery is how many inbound packets pass between wake-ups of WaitRTP.
const rtpNotifyEvery = 50

// remote is one RTCPeerConnection to one other participant.
type remote struct {
	p       *Peer
	userID  string
	room    string
	pc      *webrtc.PeerConnection
	offerer bool
	rtp     atomic.Uint64

	// st is guarded by p.mu.
	st RemoteState

	mu         sync.Mutex
	dc         *webrtc.DataChannel
	localUfrag string
	descSent   bool                      // the local description was queued
	pendingOut []webrtc.ICECandidateInit // local candidates gathered before that
	closeOnce  sync.Once

	// Loop-only state.
	remoteSet         bool
	remoteUfrag       string
	remoteFingerprint string
	remoteSessionID   string
}

// newRemote creates a connection to userID, with the audio track and, for the offerer, the
// data channel. It runs on the event loop.
func (p *Peer) newRemote(room, userID string, offerer bool) (*remote, error) {
	pc, err := p.api.NewPeerConnection(webrtc.Configuration{ICEServers: p.iceServers(), ICETransportPolicy: p.opts.ICETransportPolicy})
	if err != nil {
		return nil, fmt.Errorf("peer: new peer connection: %w", err)
	}
	r := &remote{p: p, userID: userID, room: room, pc: pc, offerer: offerer}
	pc.OnICECandidate(r.onLocalCandidate)
	pc.OnConnectionStateChange(func(webrtc.PeerConnectionState) { r.refresh() })
	pc.OnICEConnectionStateChange(func(webrtc.ICEConnectionState) { r.refresh() })
	pc.OnTrack(r.onTrack)
	pc.OnDataChannel(func(dc *webrtc.DataChannel) {
		if dc.Label() == DataChannelLabel {
			r.setDataChannel(dc)
		}
	})
	if p.audio != nil {
		sender, err := pc.AddTrack(p.audio)
		if err != nil {
			_ = pc.Close()
			return nil, fmt.Errorf("peer: add audio track: %w", err)
		}
		// Reading RTCP lets the interceptors (NACK, reports) work; it ends when pc closes.
		p.spawn(func() {
			buf := make([]byte, 1500)
			for {
				if _, _, err := sender.Read(buf); err != nil {
					return
				}
			}
		})
	}
	if offerer {
		dc, err := pc.CreateDataChannel(DataChannelLabel, nil)
		if err != nil {
			_ = pc.Close()
			return nil, fmt.Errorf("peer: create data channel: %w", err)
		}
		r.setDataChannel(dc)
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		r.close()
		return nil, ErrClosed
	}
	p.gens[userID]++
	r.st = RemoteState{
		UserID:          userID,
		ConnectionState: webrtc.PeerConnectionStateNew,
		ICEState:        webrtc.ICEConnectionStateNew,
		Offerer:         offerer,
		Generation:      p.gens[userID],
	}
	p.remotes[userID] = r
	p.notifyLocked()
	p.mu.Unlock()
	p.log.Debug("peer: new connection", "remote", userID, "offerer", offerer, "generation", r.st.Generation)
	return r, nil
}

func (r *remote) setDataChannel(dc *webrtc.DataChannel) {
	r.mu.Lock()
	r.dc = dc
	r.mu.Unlock()
	dc.OnOpen(r.refresh)
	dc.OnClose(r.refresh)
	dc.OnMessage(func(m webrtc.DataChannelMessage) {
		if f := r.p.opts.OnData; f != nil {
			f(Message{From: r.userID, Data: m.Data, IsString: m.IsString})
		}
	})
	r.refresh()
}

// refresh reads the connection's current state and reports a change. Pion runs its state
// callbacks on goroutines of their own, so the state they carry may be stale; the current one
// is not.
func (r *remote) refresh() {
	r.mu.Lock()
	dc := r.dc
	r.mu.Unlock()
	cs, ice := r.pc.ConnectionState(), r.pc.ICEConnectionState()
	open := dc != nil && dc.ReadyState() == webrtc.DataChannelStateOpen
	p := r.p
	p.mu.Lock()
	if p.remotes[r.userID] != r && r.st.Generation == 0 {
		p.mu.Unlock() // not registered yet; newRemote reports it
		return
	}
	if r.st.ConnectionState == cs && r.st.ICEState == ice && r.st.DataOpen == open {
		p.mu.Unlock()
		return
	}
	failed := cs == webrtc.PeerConnectionStateFailed && r.st.ConnectionState != cs
	if cs == webrtc.PeerConnectionStateConnected {
		delete(p.retries, r.userID)
	}
	r.st.ConnectionState, r.st.ICEState, r.st.DataOpen = cs, ice, open
	st := r.st
	st.RTPPackets = r.rtp.Load()
	p.notifyLocked()
	p.mu.Unlock()
	if failed && r.offerer {
		// Pion calls this on a goroutine of its own; the loop may be busy.
		p.spawn(func() { _ = p.do(p.ctx, func() { p.retry(r) }) })
	}
	p.log.Debug("peer: connection state", "remote", r.userID, "state", cs.String(), "ice", ice.String(), "data", open, "generation", st.Generation)
	if f := p.opts.OnStateChange; f != nil {
		f(st)
	}
}

// maxRetries bounds the new offers made in a row to a user whose connections fail.
const maxRetries = 3

// retry replaces a failed connection that this Peer offered with a new one, as the glare-free
// rule makes the offerer responsible for the pair. It runs on the event loop.
func (p *Peer) retry(r *remote) {
	p.mu.Lock()
	current := p.remotes[r.userID] == r && p.room != "" && p.room == r.room
	n := p.retries[r.userID]
	if current && n < maxRetries {
		p.retries[r.userID] = n + 1
	}
	p.mu.Unlock()
	if !current {
		return
	}
	if n >= maxRetries {
		p.log.Warn("peer: connection failed; giving up", "remote", r.userID, "attempts", n+1)
		return
	}
	p.log.Info("peer: connection failed; offering a new one", "remote", r.userID, "attempt", n+1)
	p.discard(r.userID)
	delete(p.pending, r.userID)
	p.offer(r.room, r.userID)
}

// onTrack counts the packets of one inbound track. Pion calls it on a goroutine of its own;
// the read loop ends when the connection closes.
func (r *remote) onTrack(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
	r.p.log.Debug("peer: inbound track", "remote", r.userID, "kind", t.Kind().String(), "codec", t.Codec().MimeType)
	r.p.spawn(func() {
		for {
			if _, _, err := t.ReadRTP(); err != nil {
				return
			}
			// Wake WaitRTP on the first packet and then about once a second of audio.
			if n := r.rtp.Add(1); n == 1 || n%rtpNotifyEvery == 0 {
				r.p.mu.Lock()
				r.p.notifyLocked()
				r.p.mu.Unlock()
			}
		}
	})
}

// onLocalCandidate trickles a gathered candidate to the remote user, after the description.
func (r *remote) onLocalCandidate(c *webrtc.ICECandidate) {
	if c == nil {
		return // gathering complete; nothing to send
	}
	init := c.ToJSON()
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.descSent {
		r.pendingOut = append(r.pendingOut, init)
		return
	}
	r.queueCandidateLocked(init)
}

// sendDescription queues the local description, then the candidates gathered so far.
func (r *remote) sendDescription(d webrtc.SessionDescription) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.p.out.push(outMsg{event: "video-signal", data: signal{Type: d.Type.String(), RoomID: r.room, TargetID: r.userID, SDP: d.SDP}})
	r.descSent = true
	for _, c := range r.pendingOut {
		r.queueCandidateLocked(c)
	}
	r.pendingOut = nil
}

// queueCandidateLocked queues one local candidate, stamped with our ICE username fragment so
// that the remote side can drop candidates of an earlier connection. r.mu must be held.
func (r *remote) queueCandidateLocked(c webrtc.ICECandidateInit) {
	if c.UsernameFragment == nil && r.localUfrag != "" {
		u := r.localUfrag
		c.UsernameFragment = &u
	}
	r.p.out.push(outMsg{event: "video-signal", data: signal{Type: "candidate", RoomID: r.room, TargetID: r.userID, Candidate: &c}})
}

// close closes the connection and waits for Pion's goroutines. Not on a Pion callback.
func (r *remote) close() {
	r.closeOnce.Do(func() {
		if err := r.pc.GracefulClose(); err != nil && !errors.Is(err, webrtc.ErrConnectionClosed) {
			r.p.log.Debug("peer: close connection", "remote", r.userID, "err", err)
		}
		r.refreshClosed()
	})
}

// refreshClosed reports the final state of a connection that is no longer current.
func (r *remote) refreshClosed() {
	p := r.p
	p.mu.Lock()
	if r.st.ConnectionState == webrtc.PeerConnectionStateClosed {
		p.mu.Unlock()
		return
	}
	r.st.ConnectionState, r.st.ICEState, r.st.DataOpen = webrtc.PeerConnectionStateClosed, webrtc.ICEConnectionStateClosed, false
	st := r.st
	st.RTPPackets = r.rtp.Load()
	p.notifyLocked()
	p.mu.Unlock()
	if f := p.opts.OnStateChange; f != nil {
		f(st)
	}
}

// dead reports whether the connection can no longer recover.
func (r *remote) dead() bool {
	switch r.pc.ConnectionState() {
	case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
		return true
	}
	return false
}
