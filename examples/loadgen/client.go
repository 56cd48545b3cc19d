package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/huddle-go/huddle/signaling"
	"github.com/huddle-go/huddle/signaling/jwtauth"
	"github.com/huddle-go/huddle/signaling/ws"
)

// Timeouts of one client.
const (
	connectTimeout = 15 * time.Second // dial, `session` and `room_joined`
	writeTimeout   = 10 * time.Second // one frame; when it passes the connection is closed
	leaveTimeout   = 2 * time.Second  // the leave_room frame at the end
	queueSize      = 128              // scheduled messages waiting for a client's writer
)

// client is one simulated user: a reader goroutine that times every receipt, and (while the
// load runs) a writer goroutine that sends what the scheduler queues for it.
type client struct {
	l     *load
	idx   int
	user  string
	room  string
	conn  signaling.Conn
	queue chan sendItem // from the scheduler; closed when the schedule ends

	joined   chan error    // cap 1: nil on room_joined, else why the join failed
	meeting  chan error    // cap 1 (-signal): nil on meeting_started / meeting_joined, else why not
	peer     string        // -signal: the other user of the client's room
	readDone chan struct{} // closed when the reader has returned
	closing  atomic.Bool   // set before our own close, so the reader does not count it
	sentN    int           // messages written; writer goroutine only
}

// dialURL is the endpoint of client idx with its credentials: a minted JWT with -token-secret,
// else the dev authenticator's user and name. With several endpoints, the clients of each room
// are spread over them (room r holds clients r, r+rooms, r+2·rooms…, which go to endpoints 0,
// 1, 2… in turn), so that every room spans the nodes and its deliveries cross the Broker.
func (l *load) dialURL(idx int, user, name string) (string, error) {
	u := *l.cfg.urls[(idx/l.cfg.rooms)%len(l.cfg.urls)]
	q := u.Query()
	if l.cfg.tokenSecret != "" {
		claims := jwtauth.Claims{
			Username: name,
			RegisteredClaims: jwt.RegisteredClaims{
				Subject:   user,
				IssuedAt:  jwt.NewNumericDate(time.Now()),
				ExpiresAt: jwt.NewNumericDate(time.Now().Add(l.cfg.warmup + l.cfg.duration + l.cfg.drain + time.Hour)),
			},
		}
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(l.cfg.tokenSecret))
		if err != nil {
			return "", fmt.Errorf("loadgen: mint token: %w", err)
		}
		q.Set("token", tok)
		q.Del("user")
		q.Del("name")
	} else {
		q.Set("user", user)
		q.Set("name", name)
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// connectClient dials, reads `session`, starts the reader and joins the client's room. On
// failure it returns a short error kind for the report and the error.
func (l *load) connectClient(ctx context.Context, idx int) (*client, string, error) {
	c := &client{
		l:        l,
		idx:      idx,
		user:     fmt.Sprintf("load-%d", idx),
		room:     l.roomName(idx % l.cfg.rooms),
		joined:   make(chan error, 1),
		meeting:  make(chan error, 1),
		readDone: make(chan struct{}),
	}
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	u, err := l.dialURL(idx, c.user, fmt.Sprintf("Load %d", idx))
	if err != nil {
		return nil, "token", err
	}
	conn, _, err := ws.Dial(ctx, u, &ws.DialOptions{Codec: l.cfg.codec})
	if err != nil {
		if he, ok := errors.AsType[*ws.HandshakeError](err); ok {
			return nil, fmt.Sprintf("handshake_%d", he.StatusCode), err
		}
		return nil, "dial", err
	}
	c.conn = conn
	b, err := conn.Read(ctx)
	if err == nil {
		var f inFrame
		if err = json.Unmarshal(b, &f); err == nil && f.Event != "session" {
			err = fmt.Errorf("the first frame is %q, not session", f.Event)
		}
	}
	if err != nil {
		_ = conn.Close(signaling.StatusNormalClosure, "")
		return nil, "session", err
	}
	go c.readLoop()
	join, _ := json.Marshal(outFrame{Event: "join_room", Data: roomRef{RoomID: c.room}, Ref: "join"})
	err = conn.Write(ctx, join)
	if err == nil {
		select {
		case err = <-c.joined:
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	if err != nil {
		c.close(false)
		return nil, "join", err
	}
	return c, "", nil
}

// inFrame is what the tool reads of a server frame: the union of the fields it needs from
// `message`, `room_joined` and `error`, under `data` or (codec json-payload) `payload`.
type inFrame struct {
	Event   string  `json:"event"`
	Ref     string  `json:"ref"`
	Data    *inData `json:"data"`
	Payload *inData `json:"payload"`
}

type inData struct {
	RoomID    string `json:"roomId"`
	Content   string `json:"content"`
	Candidate *struct {
		Candidate string `json:"candidate"`
	} `json:"candidate"` // video-signal
	Code    string `json:"code"`
	Event   string `json:"event"`
	Message string `json:"message"`
}

type outFrame struct {
	Event string `json:"event"`
	Data  any    `json:"data"`
	Ref   string `json:"ref,omitempty"`
}

// sendItem is one message the scheduler hands to a client.
type sendItem struct {
	stamp    int64 // when it was handed out, load clock
	measured bool  // due after the warmup
}

type roomRef struct {
	RoomID string `json:"roomId"`
}

type outSignal struct {
	Type      string       `json:"type"`
	RoomID    string       `json:"roomId"`
	TargetID  string       `json:"targetId"`
	Candidate outCandidate `json:"candidate"`
}

type outCandidate struct {
	Candidate string `json:"candidate"`
}

type outMessage struct {
	RoomID      string `json:"roomId"`
	Content     string `json:"content"`
	ClientMsgID string `json:"clientMsgId"`
}

// readLoop reads until the connection ends, timing every `message` of the client's room.
func (c *client) readLoop() {
	defer close(c.readDone)
	st := c.l.stats
	for {
		b, err := c.conn.Read(context.Background())
		now := c.l.clk.now()
		if err != nil {
			if !c.closing.Load() {
				kind := "connection_lost"
				if code := signaling.CloseStatus(err); code > 0 {
					kind = fmt.Sprintf("closed_%d", code)
				}
				st.clientError(kind, err)
			}
			return
		}
		var f inFrame
		if err := json.Unmarshal(b, &f); err != nil {
			st.clientError("undecodable_frame", err)
			continue
		}
		d := f.Data
		if d == nil {
			d = f.Payload
		}
		if d == nil {
			d = &inData{}
		}
		switch f.Event {
		case "message":
			if d.RoomID != c.room {
				st.foreign.Add(1) // a room of an earlier run the user still belongs to
				continue
			}
			stamp, measured, ok := parseStamp(d.Content)
			if !ok {
				st.foreign.Add(1)
				continue
			}
			if !measured {
				st.warmupReceived.Add(1)
				continue
			}
			st.received.Add(1)
			st.lat.Record(time.Duration(now - stamp))
		case "video-signal":
			if d.Candidate == nil {
				st.foreign.Add(1)
				continue
			}
			stamp, measured, ok := parseStamp(d.Candidate.Candidate)
			switch {
			case !ok:
				st.foreign.Add(1)
			case !measured:
				st.warmupReceived.Add(1)
			default:
				st.received.Add(1)
				st.lat.Record(time.Duration(now - stamp))
			}
		case "meeting_started", "meeting_joined":
			if d.RoomID == c.room {
				c.meetingDone(nil)
			}
		case "room_joined":
			if d.RoomID == c.room {
				c.joinDone(nil)
			}
		case "error":
			st.serverError(d.Code)
			if (d.Event == "message" || d.Event == "video-signal") && f.Ref == refMeasured {
				// Refused (an overloaded server answers unavailable at once): nothing of it
				// will be delivered, which is not a loss but an error.
				st.refused.Add(1)
				st.expected.Add(-c.expectedPerMessage())
			}
			if d.Event == "join_room" {
				c.joinDone(fmt.Errorf("join_room: %s: %s", d.Code, d.Message))
			}
			if d.Event == "start_meeting" || d.Event == "join_meeting" {
				c.meetingDone(fmt.Errorf("%s: %s: %s", d.Event, d.Code, d.Message))
			}
		}
	}
}

func (c *client) meetingDone(err error) {
	select {
	case c.meeting <- err:
	default:
	}
}

// enterMeeting (-signal) starts (host) or joins the meeting of the client's room and waits
// for the answer, so that the server relays its video-signal frames.
func (c *client) enterMeeting(ctx context.Context, host bool) error {
	event := "join_meeting"
	if host {
		event = "start_meeting"
	}
	b, _ := json.Marshal(outFrame{Event: event, Data: roomRef{RoomID: c.room}})
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	if err := c.conn.Write(ctx, b); err != nil {
		return err
	}
	select {
	case err := <-c.meeting:
		return err
	case <-ctx.Done():
		return fmt.Errorf("%s: %w", event, ctx.Err())
	}
}

func (c *client) joinDone(err error) {
	select {
	case c.joined <- err:
	default:
	}
}

// writeLoop sends a message for every scheduled time queued, until the queue is closed.
func (c *client) writeLoop(wg *sync.WaitGroup) {
	defer wg.Done()
	st := c.l.stats
	size := c.expectedPerMessage()
	for it := range c.queue {
		frame := c.messageFrame(it)
		ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
		err := c.conn.Write(ctx, frame)
		cancel()
		if err != nil {
			st.clientError("write", err)
			continue
		}
		if it.measured {
			st.sent.Add(1)
			st.expected.Add(size) // every member, the sender included
		} else {
			st.warmupSent.Add(1)
		}
	}
}

// expectedPerMessage is how many deliveries each message of the client makes: every member of
// its room, the sender included, or (-signal) the peer.
func (c *client) expectedPerMessage() int64 {
	if c.peer != "" {
		return 1
	}
	return int64(c.l.roomSize[c.room])
}

// The refs of the measured and warmup messages, so that a refusal can be told apart.
const (
	refMeasured = "t"
	refWarmup   = "w"
)

// messageFrame encodes a message whose content is "t=<stamp>|" ("w=<stamp>|" during the
// warmup) padded with 'x' to -content-bytes; stamp is the time the scheduler handed the message
// out, in Unix nanoseconds.
func (c *client) messageFrame(it sendItem) []byte {
	content := make([]byte, 0, max(c.l.cfg.contentBytes, 24))
	if it.measured {
		content = append(content, "t="...)
	} else {
		content = append(content, "w="...)
	}
	content = strconv.AppendInt(content, it.stamp, 10)
	content = append(content, '|')
	for len(content) < c.l.cfg.contentBytes {
		content = append(content, 'x')
	}
	c.sentN++
	ref := refWarmup
	if it.measured {
		ref = refMeasured
	}
	if c.peer != "" { // -signal: an ICE candidate for the peer, carrying the stamp
		b, _ := json.Marshal(outFrame{Event: "video-signal", Data: outSignal{
			Type: "candidate", RoomID: c.room, TargetID: c.peer,
			Candidate: outCandidate{Candidate: string(content)},
		}, Ref: ref})
		return b
	}
	b, _ := json.Marshal(outFrame{Event: "message", Data: outMessage{
		RoomID:      c.room,
		Content:     string(content),
		ClientMsgID: c.l.runID + "-" + strconv.Itoa(c.idx) + "-" + strconv.Itoa(c.sentN),
	}, Ref: ref})
	return b
}

// parseStamp reads the stamp of a content "t=<stamp>|..." (measured) or "w=<stamp>|..."
// (warmup).
func parseStamp(content string) (stamp int64, measured, ok bool) {
	if len(content) < 3 || content[1] != '=' || (content[0] != 't' && content[0] != 'w') {
		return 0, false, false
	}
	end := 2
	for end < len(content) && content[end] != '|' {
		end++
	}
	v, err := strconv.ParseInt(content[2:end], 10, 64)
	return v, content[0] == 't', err == nil
}

// close ends the client: it leaves its room (so the user's membership does not outlive the
// run), closes with 1000 and waits for the reader, which receives the server's answer.
func (c *client) close(leave bool) {
	c.closing.Store(true)
	if leave {
		b, _ := json.Marshal(outFrame{Event: "leave_room", Data: roomRef{RoomID: c.room}})
		ctx, cancel := context.WithTimeout(context.Background(), leaveTimeout)
		_ = c.conn.Write(ctx, b)
		cancel()
	}
	err := c.conn.Close(signaling.StatusNormalClosure, "load done")
	<-c.readDone
	if err != nil && leave {
		c.l.stats.clientError("close", err) // the close handshake did not complete
	}
}

// roomName returns the name of room r of this run.
func (l *load) roomName(r int) string {
	return "load-" + l.runID + "-" + strconv.Itoa(r)
}
