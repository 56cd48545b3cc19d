// Package peer is a headless WebRTC participant for Huddle meetings, built on Pion.
//
// A Peer dials a Huddle server over one WebSocket (package signaling/ws), starts or joins a
// meeting, and keeps one RTCPeerConnection to every other participant, negotiated by the
// glare-free rule of PROTOCOL.md §7: the participant that receives `meeting_user_joined` offers,
// the joiner answers. Offers, answers and trickled ICE candidates travel as `video-signal`
// events. Every connection carries a data channel labelled "huddle" (created by the offerer)
// and an outbound Opus audio track (silence, every 20 ms); inbound RTP is counted per remote
// user. Peers are used by Huddle's own tests, by load tools and by bots such as examples/peer.
//
// Start with Dial, then Start (as host) or Join a meeting, and WaitConnected or
// WaitAllConnected for the connections to come up:
//
//	p, err := peer.Dial(ctx, "ws://127.0.0.1:8080/ws?user=bot&name=Bot", &peer.Options{
//		OnData: func(m peer.Message) { log.Printf("%s says %q", m.From, m.Data) },
//	})
//	if err != nil { ... }
//	defer p.Close()
//	participants, err := p.Join(ctx, "room-1")
//	...
//	err = p.WaitAllConnected(ctx, ids...)
//	err = p.SendText(otherID, "hello")
//
// Two users who join at once may each hear of the other and both offer. The Peer settles such
// crossed offers deterministically: the user with the smaller id keeps its offer and ignores
// the other; the other drops its own and answers. An offerer whose connection fails offers a
// new one (up to three times in a row).
//
// With the chat service (the reference server), meetings admit only room members and send
// room-wide events such as `meeting_ended` to members' sessions: set Options.JoinRoom so that
// Start and Join send `join_room` first.
//
// The WebSocket reconnects and resumes by default. When the server cannot resume the session
// (it answered `resumed: false`), the Peer sends `join_meeting` again so that the others
// reconnect to it. A `meeting_user_joined` with `rejoin: true`, or an offer from a new
// RTCPeerConnection (another DTLS fingerprint or SDP session id), replaces the old connection
// to that user; `meeting_user_left` and `meeting_ended` close connections.
//
// For tests, Options.LoopbackOnly keeps ICE on 127.0.0.1 over UDP4 with no STUN, TURN or mDNS,
// and the ICE timeout options shorten failure detection.
//
// All methods of Peer are safe for concurrent use. Callbacks in Options run on the Peer's or
// Pion's goroutines and must not block for long; OnData may call SendData.
package peer
