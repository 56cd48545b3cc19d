// Command bare is the transport ceiling for Huddle's fan-out benchmarks: a chat fan-out server
// on github.com/coder/websocket with nothing else, no authentication, no store, no seq, no
// presence, no resume. It speaks just enough of Huddle's protocol for examples/loadgen: a
// `session` frame first, `join_room` / `leave_room` (answered `room_joined` / `room_left`),
// `message` (encoded once, written to every member of the room, the sender included),
// `video-signal` (relayed to the sessions of `targetId`, no meeting state: `start_meeting` and
// `join_meeting` are answered at once) and `ping` (answered `pong`). Each connection has one writer goroutine draining a buffered
// channel; a connection whose channel is full is closed with 1013, as Huddle does.
//
//	go run ./examples/bare -addr 127.0.0.1:18081
//	go run ./examples/loadgen -url ws://127.0.0.1:18081/ws -clients 1000 -rooms 100 -rate 5000
//
// scripts/bench-fanout runs it side by side with examples/server.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coder/websocket"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18081", "listen address")
	queue := flag.Int("queue", 1024, "frames buffered per connection before it is closed with 1013")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *addr, *queue); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, addr string, queue int) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	h := &hub{rooms: map[string]*room{}, users: map[string][]*client{}, queue: queue}
	mux := http.NewServeMux()
	mux.Handle("/ws", h)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	fmt.Printf("bare: listening on http://%s\n", ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// hub holds the rooms; each room's member list is copy-on-write, so fan-out reads it without
// a lock.
type hub struct {
	mu    sync.Mutex
	rooms map[string]*room
	users map[string][]*client // for video-signal
	queue int
	ids   atomic.Uint64
}

type room struct {
	members atomic.Pointer[[]*client]
}

type client struct {
	ws   *websocket.Conn
	user string
	out  chan []byte
	dead atomic.Bool
}

func (h *hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	user := r.URL.Query().Get("user")
	if user == "" {
		http.Error(w, "?user= required", http.StatusUnauthorized)
		return
	}
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return
	}
	c.SetReadLimit(64 << 10)
	cl := &client{ws: c, user: user, out: make(chan []byte, h.queue)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go cl.writeLoop(ctx)
	sid := strconv.FormatUint(h.ids.Add(1), 10)
	cl.send(mustJSON(frame{Event: "session", Data: map[string]any{"sessionId": sid, "user": map[string]string{"id": user}}}))
	h.addUser(cl)
	defer h.removeUser(cl)
	joined := map[string]bool{}
	defer func() {
		for id := range joined {
			h.leave(id, cl)
		}
	}()
	for {
		_, b, err := c.Read(ctx)
		if err != nil {
			return
		}
		var in struct {
			Event string `json:"event"`
			Data  struct {
				RoomID    string          `json:"roomId"`
				Content   string          `json:"content"`
				TargetID  string          `json:"targetId"`
				Type      string          `json:"type"`
				Candidate json.RawMessage `json:"candidate"`
			} `json:"data"`
			Ref string `json:"ref"`
		}
		if json.Unmarshal(b, &in) != nil {
			continue
		}
		switch in.Event {
		case "join_room":
			h.join(in.Data.RoomID, cl)
			joined[in.Data.RoomID] = true
			cl.send(mustJSON(frame{Event: "room_joined", Data: map[string]any{"roomId": in.Data.RoomID, "members": []any{}, "online": []any{}}, Ref: in.Ref}))
		case "leave_room":
			h.leave(in.Data.RoomID, cl)
			delete(joined, in.Data.RoomID)
			cl.send(mustJSON(frame{Event: "room_left", Data: map[string]any{"roomId": in.Data.RoomID}, Ref: in.Ref}))
		case "message":
			h.fanOut(in.Data.RoomID, mustJSON(frame{Event: "message", Data: map[string]any{
				"roomId": in.Data.RoomID, "content": in.Data.Content, "sender": map[string]string{"id": user},
			}}))
		case "start_meeting":
			cl.send(mustJSON(frame{Event: "meeting_started", Data: map[string]any{"roomId": in.Data.RoomID}}))
		case "join_meeting":
			cl.send(mustJSON(frame{Event: "meeting_joined", Data: map[string]any{"roomId": in.Data.RoomID}, Ref: in.Ref}))
		case "video-signal":
			b := mustJSON(frame{Event: "video-signal", Data: map[string]any{
				"type": in.Data.Type, "roomId": in.Data.RoomID, "senderId": user, "targetId": in.Data.TargetID, "candidate": in.Data.Candidate,
			}})
			h.mu.Lock()
			targets := h.users[in.Data.TargetID]
			h.mu.Unlock()
			for _, t := range targets {
				t.send(b)
			}
		case "ping":
			cl.send(mustJSON(frame{Event: "pong", Data: struct{}{}, Ref: in.Ref}))
		}
	}
}

type frame struct {
	Event string `json:"event"`
	Data  any    `json:"data"`
	Ref   string `json:"ref,omitempty"`
}

func mustJSON(f frame) []byte {
	b, err := json.Marshal(f)
	if err != nil {
		panic(err)
	}
	return b
}

// send queues b; a full queue closes the connection with 1013.
func (c *client) send(b []byte) {
	if c.dead.Load() {
		return
	}
	select {
	case c.out <- b:
	default:
		if !c.dead.Swap(true) {
			go func() { _ = c.ws.Close(websocket.StatusTryAgainLater, "slow consumer") }()
		}
	}
}

func (c *client) writeLoop(ctx context.Context) {
	for {
		select {
		case b := <-c.out:
			if err := c.ws.Write(ctx, websocket.MessageText, b); err != nil {
				c.dead.Store(true)
				return
			}
		case <-ctx.Done():
			return
		}
	}
}

func (h *hub) addUser(c *client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.users[c.user] = append(append([]*client(nil), h.users[c.user]...), c) // copy: readers hold old slices
}

func (h *hub) removeUser(c *client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var next []*client
	for _, o := range h.users[c.user] {
		if o != c {
			next = append(next, o)
		}
	}
	if len(next) == 0 {
		delete(h.users, c.user)
	} else {
		h.users[c.user] = next
	}
}

func (h *hub) fanOut(roomID string, b []byte) {
	h.mu.Lock()
	r := h.rooms[roomID]
	h.mu.Unlock()
	if r == nil {
		return
	}
	if p := r.members.Load(); p != nil {
		for _, c := range *p {
			c.send(b)
		}
	}
}

func (h *hub) join(roomID string, c *client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.rooms[roomID]
	if r == nil {
		r = &room{}
		h.rooms[roomID] = r
	}
	var cur []*client
	if p := r.members.Load(); p != nil {
		cur = *p
	}
	next := append(append(make([]*client, 0, len(cur)+1), cur...), c)
	r.members.Store(&next)
}

func (h *hub) leave(roomID string, c *client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.rooms[roomID]
	if r == nil {
		return
	}
	var next []*client
	if p := r.members.Load(); p != nil {
		for _, o := range *p {
			if o != c {
				next = append(next, o)
			}
		}
	}
	if len(next) == 0 {
		delete(h.rooms, roomID)
		return
	}
	r.members.Store(&next)
}
