package peer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/huddle-go/huddle/signaling"
	"github.com/huddle-go/huddle/signaling/ws"
	"github.com/pion/webrtc/v4"
)

// DataChannelLabel is the label of the data channel the offerer opens on every connection.
const DataChannelLabel = "huddle"

// Errors returned by Peer methods. Errors the server sent are *signaling.Error values, so
// errors.Is(err, &signaling.Error{Code: signaling.CodeConflict}) works.
var (
	// ErrClosed is returned once Close was called.
	ErrClosed = errors.New("peer: closed")
	// ErrNotConnected is returned by SendData when no data channel to the user is open.
	ErrNotConnected = errors.New("peer: no open data channel to that user")
	// ErrNotInMeeting is returned by Leave and Stop outside a meeting.
	ErrNotInMeeting = errors.New("peer: not in a meeting")
	// ErrDisconnected is returned once the WebSocket is lost for good (the server ended the
	// session, or it dropped with NoReconnect). Only Close remains to be called.
	ErrDisconnected = errors.New("peer: disconnected")
	// ErrInOtherMeeting is returned by Start and Join while the Peer is in another room's
	// meeting; Leave it first.
	ErrInOtherMeeting = errors.New("peer: already in another meeting")
)

// Options configures a Peer. The zero value of each field means its default.
type Options struct {
	// Codec is the wire codec. Default: signaling.JSON.
	Codec signaling.Codec
	// Header is sent with the WebSocket handshake, e.g. "Authorization: Bearer <JWT>".
	Header http.Header
	// HTTPClient performs the WebSocket handshake. Default: the ws package's.
	HTTPClient *http.Client
	// NoReconnect stops the WebSocket from reconnecting and resuming after a drop.
	// Default: it reconnects.
	NoReconnect bool
	// MinBackoff and MaxBackoff bound the delay between reconnect attempts. Default: the ws
	// package's.
	MinBackoff, MaxBackoff time.Duration

	// LoopbackOnly keeps ICE on loopback: host candidates on 127.0.0.1 over UDP4 only, no mDNS,
	// and no STUN or TURN servers (ICEServers and the session's servers are ignored). For
	// tests and for bots running beside the server.
	LoopbackOnly bool
	// ICEServers are the STUN and TURN servers of every connection. Default (nil): the
	// `iceServers` of the current session.
	ICEServers []webrtc.ICEServer
	// ICEDisconnectedTimeout is how long without traffic before ICE reports "disconnected".
	// Default: Pion's (5 s).
	ICEDisconnectedTimeout time.Duration
	// ICEFailedTimeout is how long after "disconnected" ICE reports "failed". Default: Pion's
	// (25 s).
	ICEFailedTimeout time.Duration
	// ICEKeepaliveInterval is how often ICE sends keepalives on an idle connection. Default:
	// Pion's (2 s).
	ICEKeepaliveInterval time.Duration
	// ICETransportPolicy is RTCConfiguration.iceTransportPolicy: webrtc.ICETransportPolicyRelay
	// uses TURN relays only. Default: all candidates.
	ICETransportPolicy webrtc.ICETransportPolicy
	// SettingEngine, when set, adjusts the Pion settings every connection shares, after the
	// Peer applied its own: e.g. SetNet to open the ICE sockets elsewhere, or SetNAT1To1IPs.
	SettingEngine func(*webrtc.SettingEngine)

	// JoinRoom makes Start and Join send `join_room {roomId}` first. Servers with the chat
	// service (the reference server) admit only room members to meetings, and send room-wide
	// events (meeting_ended, meeting_invitation) only to members' sessions. A server without a
	// chat service answers with an `unknown_event` error, which does no harm. Default: off.
	JoinRoom bool

	// NoAudio disables the outbound audio track. Default: every connection carries an Opus
	// track that sends a silence frame every 20 ms.
	NoAudio bool

	// OnEvent is called with every event the server sent, in order, after the Peer handled
	// it. It runs on the Peer's event loop: a slow OnEvent delays signaling. It may call
	// Send, SendData and the state methods, but not Close, Start, Join, Leave, Stop or
	// SimulateReload (they wait for the loop).
	OnEvent func(ws.Event)
	// OnData is called with every data channel message. It runs on Pion's goroutines and
	// may call SendData and SendText, but not Close.
	OnData func(Message)
	// OnStateChange is called when a connection to a remote user changes state, including
	// the final "closed" of a connection that was replaced (see RemoteState.Generation).
	// Calls may run concurrently. It must not call Close.
	OnStateChange func(RemoteState)
	// Logger receives the Peer's logs (and Pion's warnings and errors). Default: silent.
	Logger *slog.Logger
}

// Message is one data channel message from a remote user.
type Message struct {
	From     string // the sender's user id
	Data     []byte
	IsString bool // sent as text rather than binary
}

// RemoteState describes the current connection to one remote user.
type RemoteState struct {
	UserID string
	// ConnectionState and ICEState are the RTCPeerConnection's.
	ConnectionState webrtc.PeerConnectionState
	ICEState        webrtc.ICEConnectionState
	// DataOpen reports whether the "huddle" data channel is open.
	DataOpen bool
	// Offerer reports whether this Peer sent the offer.
	Offerer bool
	// Generation counts the connections made to this user so far: 1 for the first, one more
	// for each replacement (a rejoin, a reload).
	Generation int
	// RTPPackets counts the RTP packets received on this connection.
	RTPPackets uint64
}

// Connected reports whether the connection is up and its data channel open.
func (s RemoteState) Connected() bool {
	return s.ConnectionState == webrtc.PeerConnectionStateConnected && s.DataOpen
}

// Peer is one meeting participant. Create it with Dial; all methods are safe for concurrent
// use.
type Peer struct {
	opts   Options
	log    *slog.Logger
	api    *webrtc.API
	client *ws.Client
	audio  *webrtc.TrackLocalStaticSample // nil with NoAudio

	ctx    context.Context // the Peer's lifetime; cancelled by Close
	cancel context.CancelFunc

	ops          chan func()   // run on the event loop
	resumeFailed chan struct{} // a resume failed: join the meeting again
	loopDone     chan struct{}
	out          outQueue

	mu       sync.Mutex
	closed   bool // no new goroutines once set
	wg       sync.WaitGroup
	user     signaling.User
	room     string
	remotes  map[string]*remote
	gens     map[string]int
	retries  map[string]int // new offers in a row after failures, per user
	changed  chan struct{}  // closed and replaced on every state change
	waiters  []*waiter
	sessions int // sessions seen (1 after Dial); grows on every resume or new session
	lastInfo ws.SessionInfo

	// Loop-only state: touched only on the event loop.
	pending map[string][]webrtc.ICECandidateInit // remote candidates without a description yet

	closeOnce sync.Once
}

// Dial connects to a Huddle server and returns a Peer that is in no meeting yet. url is the
// WebSocket endpoint with its credentials, e.g. "ws://host/ws?token=<JWT>" or, with the dev
// authenticator, "ws://127.0.0.1:8080/ws?user=bot&name=Bot". Dial returns after the server's
// `session` event.
func Dial(ctx context.Context, url string, opts *Options) (*Peer, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Codec == nil {
		o.Codec = signaling.JSON
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	p := &Peer{
		opts:         o,
		log:          o.Logger,
		ops:          make(chan func()),
		resumeFailed: make(chan struct{}, 1),
		loopDone:     make(chan struct{}),
		remotes:      map[string]*remote{},
		gens:         map[string]int{},
		retries:      map[string]int{},
		changed:      make(chan struct{}),
		pending:      map[string][]webrtc.ICECandidateInit{},
	}
	p.out.ready = make(chan struct{}, 1)
	p.api = newAPI(&o)
	if !o.NoAudio {
		track, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "huddle-peer")
		if err != nil {
			return nil, fmt.Errorf("peer: audio track: %w", err)
		}
		p.audio = track
	}
	c, err := ws.Connect(ctx, url, &ws.ClientOptions{
		Dial:           ws.DialOptions{Codec: o.Codec, Header: o.Header, HTTPClient: o.HTTPClient},
		Reconnect:      !o.NoReconnect,
		MinBackoff:     o.MinBackoff,
		MaxBackoff:     o.MaxBackoff,
		OnSession:      p.onSession,
		OnResumeFailed: p.onResumeFailed,
		Logger:         o.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("peer: dial: %w", err)
	}
	p.client = c
	p.mu.Lock()
	p.user = c.Session().User
	p.mu.Unlock()
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.wg.Add(2)
	go p.loop()
	go p.writeLoop()
	if p.audio != nil {
		p.wg.Add(1)
		go p.sendAudio()
	}
	return p, nil
}

// User returns who the server says this Peer is.
func (p *Peer) User() signaling.User {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.user
}

// Session returns the current WebSocket session.
func (p *Peer) Session() ws.SessionInfo { return p.client.Session() }

// Room returns the room of the meeting the Peer is in, or "".
func (p *Peer) Room() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.room
}

// Done is closed when the Peer stops: after Close, or when its WebSocket is lost for good (the
// server ended the session, or it dropped with NoReconnect). Err then says which.
func (p *Peer) Done() <-chan struct{} { return p.loopDone }

// Err returns nil while the Peer runs, then ErrClosed after Close or an error wrapping
// ErrDisconnected and the cause.
func (p *Peer) Err() error {
	select {
	case <-p.loopDone:
		return p.stopErr()
	default:
		return nil
	}
}

// Send sends any client event, e.g. `message` or `media_state`. Meeting events should go
// through Start, Join, Leave and Stop, which keep the Peer's connections in step.
func (p *Peer) Send(ctx context.Context, event string, data any) error {
	return p.client.Send(ctx, event, data)
}

// Start starts a meeting in roomID with this Peer as host and first participant
// (`start_meeting`), and returns when the server confirmed it with `meeting_started`. Every
// participant that joins later gets an offer from this Peer.
func (p *Peer) Start(ctx context.Context, roomID string) error {
	_, err := p.request(ctx, roomID, "start_meeting", "meeting_started", map[string]string{"roomId": roomID})
	return err
}

// Join joins the active meeting in roomID (`join_meeting` without hostId, so that every
// participant offers to this Peer) and returns the participants the server listed in
// `meeting_joined`, this Peer included. Joining the meeting the Peer is already in is a
// rejoin: the others replace their connections to it.
func (p *Peer) Join(ctx context.Context, roomID string) ([]signaling.User, error) {
	e, err := p.request(ctx, roomID, "join_meeting", "meeting_joined", map[string]string{"roomId": roomID})
	if err != nil {
		return nil, err
	}
	var joined struct {
		Participants []signaling.User `json:"participants"`
	}
	if err := json.Unmarshal(e.Data, &joined); err != nil {
		return nil, fmt.Errorf("peer: meeting_joined: %w", err)
	}
	return joined.Participants, nil
}

// request enters roomID, sends event and waits for the reply (or the server's error).
func (p *Peer) request(ctx context.Context, roomID, event, reply string, data any) (ws.Event, error) {
	p.mu.Lock()
	switch {
	case p.closed:
		p.mu.Unlock()
		return ws.Event{}, ErrClosed
	case p.room != "" && p.room != roomID:
		p.mu.Unlock()
		return ws.Event{}, fmt.Errorf("%w: %s", ErrInOtherMeeting, p.room)
	}
	entered := p.room == ""
	p.room = roomID
	p.mu.Unlock()
	w := p.await(func(e ws.Event) bool {
		return (e.Event == reply && roomOf(e.Data) == roomID) || isErrorFor(e, event)
	})
	defer p.unawait(w)
	fail := func(err error) (ws.Event, error) {
		if entered {
			p.mu.Lock()
			if p.room == roomID {
				p.room = ""
			}
			p.mu.Unlock()
		}
		return ws.Event{}, err
	}
	if p.opts.JoinRoom {
		// Events of a session are handled in order: the membership exists before event.
		if err := p.client.Send(ctx, "join_room", map[string]string{"roomId": roomID}); err != nil {
			return fail(fmt.Errorf("peer: join_room: %w", err))
		}
	}
	if err := p.client.Send(ctx, event, data); err != nil {
		return fail(fmt.Errorf("peer: %s: %w", event, err))
	}
	e, err := w.wait(ctx, p)
	if err != nil {
		return ws.Event{}, fmt.Errorf("peer: %s: waiting for %s: %w", event, reply, err)
	}
	if e.Event == "error" {
		return fail(serverError(e))
	}
	return e, nil
}

// Leave leaves the meeting (`leave_meeting`) and closes every connection. Leaving a meeting
// that already ended on the server is not an error.
func (p *Peer) Leave(ctx context.Context) error {
	return p.exit(ctx, "leave_meeting")
}

// Stop ends the meeting for everyone (`stop_meeting`; host only) and closes every connection.
// The server answers a non-host with a `forbidden` error, which Stop returns and which leaves
// the Peer in the meeting. When the meeting is gone already (`not_found`), Stop leaves it
// locally and returns that error.
func (p *Peer) Stop(ctx context.Context) error {
	return p.exit(ctx, "stop_meeting")
}

func (p *Peer) exit(ctx context.Context, event string) error {
	room := p.Room()
	if room == "" {
		return ErrNotInMeeting
	}
	// Events of one session are handled in order, so the pong of a ping sent right after
	// tells that the server handled the event; an error for it comes before.
	w := p.await(func(e ws.Event) bool { return e.Event == "pong" || isErrorFor(e, event) })
	defer p.unawait(w)
	if err := p.client.Send(ctx, event, map[string]string{"roomId": room}); err != nil {
		return fmt.Errorf("peer: %s: %w", event, err)
	}
	if err := p.client.Send(ctx, "ping", struct{}{}); err != nil {
		return fmt.Errorf("peer: %s: %w", event, err)
	}
	e, err := w.wait(ctx, p)
	if err != nil {
		return fmt.Errorf("peer: %s: %w", event, err)
	}
	if e.Event == "error" {
		err = serverError(e)
		if !errors.Is(err, &signaling.Error{Code: signaling.CodeNotFound}) {
			return err
		}
		// The meeting is gone already: we are out of it all the same.
		if event == "leave_meeting" {
			err = nil
		}
	}
	if derr := p.do(ctx, func() { p.leaveRoomLoop(room) }); derr != nil {
		return derr
	}
	return err
}

// SimulateReload behaves like a browser tab that reloads during a meeting: it closes every
// peer connection, drops the WebSocket abruptly (the client resumes the session), and joins
// the meeting again, so that every other participant replaces its connection to this Peer.
// It returns when the server confirmed the rejoin. It requires reconnection (the default).
func (p *Peer) SimulateReload(ctx context.Context) error {
	if p.opts.NoReconnect {
		return errors.New("peer: SimulateReload needs reconnection")
	}
	room := p.Room()
	if err := p.do(ctx, p.closeAllLoop); err != nil {
		return err
	}
	p.mu.Lock()
	seen := p.sessions
	p.mu.Unlock()
	// If the resume fails the event loop joins again by itself; catch that reply too.
	w := p.await(func(e ws.Event) bool {
		return room != "" && ((e.Event == "meeting_joined" && roomOf(e.Data) == room) || isErrorFor(e, "join_meeting"))
	})
	defer p.unawait(w)
	p.client.Drop()
	info, err := p.waitSession(ctx, seen)
	if err != nil {
		return fmt.Errorf("peer: reload: %w", err)
	}
	if room == "" {
		return nil
	}
	if info.Resumed {
		_, err := p.Join(ctx, room)
		return err
	}
	e, err := w.wait(ctx, p)
	if err != nil {
		return fmt.Errorf("peer: reload: rejoin: %w", err)
	}
	if e.Event == "error" {
		return serverError(e)
	}
	return nil
}

// DropWebSocket aborts the WebSocket connection without a close frame, as a network failure
// would, and leaves the peer connections alone. The client reconnects and resumes; if the
// server cannot resume, the Peer joins the meeting again. It is meant for tests.
func (p *Peer) DropWebSocket() { p.client.Drop() }

// waitSession waits until a session after the first seen ones started.
func (p *Peer) waitSession(ctx context.Context, seen int) (ws.SessionInfo, error) {
	for {
		p.mu.Lock()
		n, info, ch := p.sessions, p.lastInfo, p.changed
		p.mu.Unlock()
		if n > seen {
			return info, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ws.SessionInfo{}, ctx.Err()
		case <-p.loopDone:
			return ws.SessionInfo{}, p.stopErr()
		}
	}
}

// Close leaves no trace: it closes every peer connection and the WebSocket (without sending
// leave_meeting: for the server this looks like a lost connection, so call Leave first for a
// clean exit) and waits for every goroutine the Peer started. It is idempotent.
func (p *Peer) Close() error {
	var err error
	p.closeOnce.Do(func() {
		p.cancel()
		<-p.loopDone // no new connections after this
		p.mu.Lock()
		p.closed = true
		rs := make([]*remote, 0, len(p.remotes))
		for id, r := range p.remotes {
			rs = append(rs, r)
			delete(p.remotes, id)
		}
		p.room = ""
		p.notifyLocked()
		p.mu.Unlock()
		for _, r := range rs {
			r.close()
		}
		err = p.client.Close()
		p.wg.Wait()
	})
	return err
}

// WaitConnected waits until the connection to userID is connected and its data channel open.
func (p *Peer) WaitConnected(ctx context.Context, userID string) error {
	return p.WaitAllConnected(ctx, userID)
}

// WaitAllConnected waits until the connections to all of userIDs are connected and their data
// channels open. The Peer's own id is ignored, so the participants of a meeting can be passed
// as they are.
func (p *Peer) WaitAllConnected(ctx context.Context, userIDs ...string) error {
	for {
		p.mu.Lock()
		ch, closed := p.changed, p.closed
		var missing []string
		for _, id := range userIDs {
			if id == p.user.ID {
				continue
			}
			if r := p.remotes[id]; r == nil || !r.st.Connected() {
				missing = append(missing, id)
			}
		}
		var states []string
		if len(missing) > 0 && ctx.Err() != nil {
			for _, id := range missing {
				st := "none"
				if r := p.remotes[id]; r != nil {
					st = fmt.Sprintf("%s/ice %s/data open %t", r.st.ConnectionState, r.st.ICEState, r.st.DataOpen)
				}
				states = append(states, id+": "+st)
			}
		}
		p.mu.Unlock()
		if len(missing) == 0 {
			return nil
		}
		if closed {
			return ErrClosed
		}
		if states != nil {
			return fmt.Errorf("peer: waiting for connections: %w (%v)", ctx.Err(), states)
		}
		select {
		case <-ch:
		case <-ctx.Done():
		case <-p.loopDone:
			return p.stopErr()
		}
	}
}

// Remote returns the state of the current connection to userID.
func (p *Peer) Remote(userID string) (RemoteState, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.remotes[userID]
	if r == nil {
		return RemoteState{}, false
	}
	st := r.st
	st.RTPPackets = r.rtp.Load()
	return st, true
}

// Remotes returns the states of all current connections.
func (p *Peer) Remotes() []RemoteState {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]RemoteState, 0, len(p.remotes))
	for _, r := range p.remotes {
		st := r.st
		st.RTPPackets = r.rtp.Load()
		out = append(out, st)
	}
	return out
}

// SelectedCandidatePair returns the ICE candidate pair the current connection to userID
// carries its traffic on: a relay candidate on either side means it goes through TURN. It
// fails when there is no connection to userID or ICE has not selected a pair yet.
func (p *Peer) SelectedCandidatePair(userID string) (*webrtc.ICECandidatePair, error) {
	p.mu.Lock()
	r := p.remotes[userID]
	p.mu.Unlock()
	if r == nil {
		return nil, fmt.Errorf("peer: no connection to %q", userID)
	}
	pair, err := r.pc.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil {
		return nil, fmt.Errorf("peer: selected candidate pair: %w", err)
	}
	if pair == nil {
		return nil, fmt.Errorf("peer: no candidate pair selected for %q yet", userID)
	}
	return pair, nil
}

// RTPPackets returns the number of RTP packets received on the current connection to userID
// (0 when there is none).
func (p *Peer) RTPPackets(userID string) uint64 {
	p.mu.Lock()
	r := p.remotes[userID]
	p.mu.Unlock()
	if r == nil {
		return 0
	}
	return r.rtp.Load()
}

// WaitRTP waits until at least n RTP packets arrived on the current connection to userID.
// It checks after the first packet and then every 50 packets (about a second of audio).
func (p *Peer) WaitRTP(ctx context.Context, userID string, n uint64) error {
	for {
		p.mu.Lock()
		r, ch, closed := p.remotes[userID], p.changed, p.closed
		p.mu.Unlock()
		if r != nil && r.rtp.Load() >= n {
			return nil
		}
		if closed {
			return ErrClosed
		}
		select {
		case <-ch:
		case <-ctx.Done():
			var got uint64
			if r != nil {
				got = r.rtp.Load()
			}
			return fmt.Errorf("peer: waiting for %d RTP packets from %s (got %d): %w", n, userID, got, ctx.Err())
		case <-p.loopDone:
			return p.stopErr()
		}
	}
}

// SendData sends a binary message on the data channel to userID.
func (p *Peer) SendData(userID string, data []byte) error {
	dc := p.dataChannel(userID)
	if dc == nil {
		return fmt.Errorf("%w: %s", ErrNotConnected, userID)
	}
	return dc.Send(data)
}

// SendText sends a text message on the data channel to userID.
func (p *Peer) SendText(userID, text string) error {
	dc := p.dataChannel(userID)
	if dc == nil {
		return fmt.Errorf("%w: %s", ErrNotConnected, userID)
	}
	return dc.SendText(text)
}

func (p *Peer) dataChannel(userID string) *webrtc.DataChannel {
	p.mu.Lock()
	r := p.remotes[userID]
	p.mu.Unlock()
	if r == nil {
		return nil
	}
	r.mu.Lock()
	dc := r.dc
	r.mu.Unlock()
	if dc == nil || dc.ReadyState() != webrtc.DataChannelStateOpen {
		return nil
	}
	return dc
}

// notifyLocked wakes everyone waiting for a change. p.mu must be held.
func (p *Peer) notifyLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// spawn runs f on a goroutine that Close waits for, unless the Peer is closing; then it
// reports false and f does not run.
func (p *Peer) spawn(f func()) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		f()
	}()
	return true
}

// do runs f on the event loop and waits for it.
func (p *Peer) do(ctx context.Context, f func()) error {
	done := make(chan struct{})
	select {
	case p.ops <- func() { f(); close(done) }:
	case <-ctx.Done():
		return ctx.Err()
	case <-p.loopDone:
		return p.stopErr()
	}
	select {
	case <-done:
		return nil
	case <-p.loopDone:
		return p.stopErr()
	}
}

func (p *Peer) onSession(info ws.SessionInfo) {
	p.mu.Lock()
	p.sessions++
	p.lastInfo = info
	p.notifyLocked()
	p.mu.Unlock()
	p.log.Debug("peer: session", "session", info.SessionID, "user", info.User.ID, "resumed", info.Resumed)
}

func (p *Peer) onResumeFailed() {
	select {
	case p.resumeFailed <- struct{}{}:
	default:
	}
}

// sendAudio writes an Opus silence frame every 20 ms to the shared track; Pion sends it on
// every connection the track is bound to.
func (p *Peer) sendAudio() {
	defer p.wg.Done()
	const frame = 20 * time.Millisecond
	silence := []byte{0xf8, 0xff, 0xfe}
	t := time.NewTicker(frame)
	defer t.Stop()
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-t.C:
			// The track is shared: an error names a connection that is going away.
			_ = p.audio.WriteSample(mediaSample(silence, frame))
		}
	}
}

// waiter receives the first event a predicate matches.
type waiter struct {
	match func(ws.Event) bool
	ch    chan ws.Event
}

func (p *Peer) await(match func(ws.Event) bool) *waiter {
	w := &waiter{match: match, ch: make(chan ws.Event, 1)}
	p.mu.Lock()
	p.waiters = append(p.waiters, w)
	p.mu.Unlock()
	return w
}

func (p *Peer) unawait(w *waiter) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, o := range p.waiters {
		if o == w {
			p.waiters = append(p.waiters[:i], p.waiters[i+1:]...)
			return
		}
	}
}

func (w *waiter) wait(ctx context.Context, p *Peer) (ws.Event, error) {
	select {
	case e := <-w.ch:
		return e, nil
	case <-ctx.Done():
		return ws.Event{}, ctx.Err()
	case <-p.loopDone:
		return ws.Event{}, p.stopErr()
	}
}

// stopErr says why the event loop stopped: Close, or a connection lost for good.
func (p *Peer) stopErr() error {
	if p.ctx.Err() != nil {
		return ErrClosed
	}
	return fmt.Errorf("%w: %w", ErrDisconnected, p.client.Err())
}

// wake hands e to the waiters it matches; each waiter gets one event.
func (p *Peer) wake(e ws.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	kept := p.waiters[:0]
	for _, w := range p.waiters {
		if w.match(e) {
			w.ch <- e // buffered, and removed right after: never blocks
			continue
		}
		kept = append(kept, w)
	}
	clear(p.waiters[len(kept):])
	p.waiters = kept
}

func roomOf(data json.RawMessage) string {
	var v struct {
		RoomID string `json:"roomId"`
	}
	_ = json.Unmarshal(data, &v)
	return v.RoomID
}

func isErrorFor(e ws.Event, event string) bool {
	if e.Event != "error" {
		return false
	}
	var v struct {
		Event string `json:"event"`
	}
	_ = json.Unmarshal(e.Data, &v)
	return v.Event == event
}

// serverError turns an `error` event into a *signaling.Error.
func serverError(e ws.Event) error {
	se := &signaling.Error{}
	if err := json.Unmarshal(e.Data, se); err != nil || se.Code == "" {
		return fmt.Errorf("peer: malformed error event: %s", e.Data)
	}
	return se
}
