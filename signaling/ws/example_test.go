package ws_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/huddle-go/huddle/signaling"
	"github.com/huddle-go/huddle/signaling/ws"
)

func Example() {
	node := signaling.NewNode(nil)
	h, err := ws.Handler(node, &ws.Options{
		Authenticator: signaling.DevAuthenticator{}, // development only: trusts ?user=
	})
	if err != nil {
		panic(err) // no Authenticator, or a malformed origin pattern
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer node.Shutdown(context.Background())

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "?user=alice&name=Alice"
	conn, _, err := ws.Dial(ctx, url, nil)
	if err != nil {
		fmt.Println("dial:", err)
		return
	}
	defer conn.Close(signaling.StatusNormalClosure, "")

	frame, err := conn.Read(ctx)
	if err != nil {
		fmt.Println("read:", err)
		return
	}
	var first struct {
		Event string `json:"event"`
		Data  struct {
			User signaling.User `json:"user"`
		} `json:"data"`
	}
	_ = json.Unmarshal(frame, &first)
	fmt.Println(first.Event, first.Data.User.Username)
	// Output: session Alice
}

func ExampleConnect() {
	node := signaling.NewNode(nil)
	err := node.Handle("echo", signaling.HandlerFunc(func(ctx context.Context, s *signaling.Session, e signaling.Envelope) error {
		return s.Reply(ctx, e, "echo", e.Raw())
	}))
	if err != nil {
		panic(err) // a second handler for "echo" would be signaling.ErrHandled
	}
	h, err := ws.Handler(node, &ws.Options{Authenticator: signaling.DevAuthenticator{}})
	if err != nil {
		panic(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer node.Shutdown(context.Background())

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "?user=bob"
	c, err := ws.Connect(ctx, url, &ws.ClientOptions{Reconnect: true})
	if err != nil {
		fmt.Println("connect:", err)
		return
	}
	defer c.Close()
	fmt.Println("user:", c.Session().User.ID)

	if err := c.Send(ctx, "echo", map[string]string{"text": "hi"}); err != nil {
		fmt.Println("send:", err)
		return
	}
	ev := <-c.Events()
	fmt.Println(ev.Event, string(ev.Data))
	// Output:
	// user: bob
	// echo {"text":"hi"}
}
