package main

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/matryer/is"
)

// TestFanOut: both members of a room get a message, the sender's copy included, after the
// session frame and room_joined.
func TestFanOut(t *testing.T) {
	is := is.New(t)
	srv := httptest.NewServer(&hub{rooms: map[string]*room{}, users: map[string][]*client{}, queue: 16})
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws?user="
	read := func(c *websocket.Conn) string {
		_, b, err := c.Read(ctx)
		is.NoErr(err)
		var f struct{ Event string }
		is.NoErr(json.Unmarshal(b, &f))
		return f.Event
	}
	var conns []*websocket.Conn
	for _, u := range []string{"a", "b"} {
		c, _, err := websocket.Dial(ctx, url+u, nil)
		is.NoErr(err)
		defer c.CloseNow()
		is.Equal(read(c), "session")
		is.NoErr(c.Write(ctx, websocket.MessageText, []byte(`{"event":"join_room","data":{"roomId":"r"}}`)))
		is.Equal(read(c), "room_joined")
		conns = append(conns, c)
	}
	is.NoErr(conns[0].Write(ctx, websocket.MessageText, []byte(`{"event":"message","data":{"roomId":"r","content":"hi"}}`)))
	for _, c := range conns {
		is.Equal(read(c), "message") // every member, the sender included
	}
	is.NoErr(conns[0].Write(ctx, websocket.MessageText, []byte(`{"event":"video-signal","data":{"roomId":"r","targetId":"b","type":"candidate","candidate":{}}}`)))
	is.Equal(read(conns[1]), "video-signal") // relayed to its target
}
