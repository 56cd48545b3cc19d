package meeting

import (
	"context"
	"encoding/json"
	"slices"

	"github.com/huddle-go/huddle/signaling"
)

// Signal is the data of a `video-signal` event: a WebRTC offer, answer or ICE candidate for one
// participant. SDP and Candidate keep the shapes browsers and Pion produce
// (RTCSessionDescriptionInit's sdp, RTCIceCandidateInit).
type Signal struct {
	// Type is "offer", "answer" or "candidate".
	Type   string `json:"type"`
	RoomID string `json:"roomId"`
	// SenderID is set by the server on relay; what a client sends is ignored.
	SenderID string `json:"senderId,omitempty"`
	TargetID string `json:"targetId"`
	// SDP is the session description of an offer or answer, at most MaxSDPBytes.
	SDP string `json:"sdp,omitempty"`
	// Candidate is an RTCIceCandidateInit, relayed as it came.
	Candidate json.RawMessage `json:"candidate,omitempty"`
}

// videoSignal relays an offer, answer or candidate from one participant to another: only to the
// target's sessions bound to the meeting, with senderId stamped by the server. The sender's
// session is bound by its first signal. Offers and answers are checked against the stored
// meeting (and a target without a bound session is `target_unavailable`); a candidate from a
// session bound here is authorised by that binding alone, with no store read.
func (svc *Service) videoSignal(ctx context.Context, s *signaling.Session, e signaling.Envelope) error {
	var in Signal
	if err := e.Bind(&in); err != nil {
		return err
	}
	switch in.Type {
	case "offer", "answer", "candidate":
	default:
		return signaling.Errorf(signaling.CodeBadRequest, "video-signal: type must be offer, answer or candidate")
	}
	if err := checkID(e.Event, "roomId", in.RoomID); err != nil {
		return err
	}
	if err := checkID(e.Event, "targetId", in.TargetID); err != nil {
		return err
	}
	if len(in.SDP) > MaxSDPBytes || len(in.Candidate) > MaxSDPBytes {
		return signaling.Errorf(signaling.CodeTooLarge, "video-signal: sdp and candidate are limited to %d bytes", MaxSDPBytes)
	}
	u, sid := s.User(), s.ID()
	if in.TargetID == u.ID {
		return signaling.Errorf(signaling.CodeBadRequest, "video-signal: targetId is the sender")
	}
	topic := Topic(in.RoomID)
	if in.Type == "candidate" && svc.boundHere(s, in.RoomID) {
		// The hot path, many per connection: a session bound to the meeting (start_meeting,
		// join_meeting or an earlier signal, and still subscribed to its topic, which leaving,
		// the end of the meeting and a grace running out all undo) relays without reading the
		// meeting. The target gets it only if one of its sessions is bound there too.
		in.SenderID = u.ID
		return svc.hub.Publish(ctx, topic, signaling.Envelope{Event: "video-signal", Data: in}, signaling.OnlyUser(in.TargetID))
	}
	m, err := svc.active(ctx, in.RoomID)
	if err != nil {
		return err
	}
	sender := m.Participant(u.ID)
	if sender == nil && m.Host.ID != u.ID {
		return signaling.Errorf(signaling.CodeForbidden, "not a participant of the meeting in room %q", in.RoomID)
	}
	target := m.Participant(in.TargetID)
	if target == nil {
		return signaling.Errorf(signaling.CodeForbidden, "the target is not a participant of the meeting in room %q", in.RoomID)
	}
	if sender == nil || !slices.Contains(sender.Sessions, sid) {
		if err := svc.bindSignaler(ctx, s, in.RoomID); err != nil {
			return err
		}
	}
	if !target.connected() {
		return signaling.Errorf(signaling.CodeTargetUnavailable, "the target has no session in the meeting")
	}
	in.SenderID = u.ID
	return svc.hub.Publish(ctx, topic, signaling.Envelope{Event: "video-signal", Data: in}, signaling.OnlyUser(in.TargetID))
}

// boundHere reports whether session s is bound to the meeting of roomID on this node: it
// remembers the binding and is still subscribed to the meeting's topic.
func (svc *Service) boundHere(s *signaling.Session, roomID string) bool {
	if !svc.bindingsOf(s).has(roomID) {
		return false
	}
	return slices.Contains(s.Topics(), Topic(roomID))
}

// bindSignaler binds the session of a participant that signals from a session it did not join
// from: the original client's host re-offers after a reload and never sends join_meeting. For the
// same reason a host whose participant grace already ran out is taken back as a participant
// (within MaxParticipants), without a `meeting_user_joined`: its offers rebuild the mesh.
func (svc *Service) bindSignaler(ctx context.Context, s *signaling.Session, roomID string) error {
	u, sid := s.User(), s.ID()
	var host bool
	err := svc.update(ctx, roomID, func(m *Meeting) error {
		host = m.Host.ID == u.ID
		p := m.Participant(u.ID)
		if p == nil {
			if !host {
				return signaling.Errorf(signaling.CodeForbidden, "not a participant of the meeting in room %q", roomID)
			}
			if len(m.Participants) >= svc.o.MaxParticipants {
				return signaling.Errorf(signaling.CodeMeetingFull, "the meeting in room %q has %d participants, the most it takes", roomID, svc.o.MaxParticipants)
			}
			m.Participants = append(m.Participants, Participant{User: u, JoinedAt: svc.now().UnixMilli()})
			p = &m.Participants[len(m.Participants)-1]
			m.EmptySince = 0
		}
		p.bind(sid)
		if host {
			m.HostAwaySince = 0
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := svc.subscribe(ctx, s, roomID); err != nil {
		return err
	}
	svc.disarm(graceKey(roomID, u.ID))
	if host {
		svc.disarm(hostKey(roomID))
		svc.disarm(emptyKey(roomID))
	}
	return nil
}
