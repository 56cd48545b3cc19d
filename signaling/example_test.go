package signaling_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/huddle-go/huddle/signaling"
	"github.com/huddle-go/huddle/signaling/signalingtest"
)

// A Node with one handler, served over an in-memory connection: the client reads the session
// frame, sends an event with a ref and gets the reply, numbered for resume.
func ExampleNode() {
	node := signaling.NewNode(nil)
	err := node.Handle("echo", signaling.HandlerFunc(func(ctx context.Context, s *signaling.Session, e signaling.Envelope) error {
		var in struct {
			Text string `json:"text"`
		}
		if err := e.Bind(&in); err != nil {
			return err // an *Error: the client gets `error {code: "bad_request"}`
		}
		return s.Reply(ctx, e, "echoed", in)
	}))
	if err != nil {
		panic(err) // a second handler for "echo" would be signaling.ErrHandled
	}

	server, client := signalingtest.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = node.Serve(context.Background(), server, signaling.User{ID: "u1", Username: "Una"}, nil)
	}()
	ctx := context.Background()
	first, _ := client.Read(ctx)
	fmt.Println(strings.HasPrefix(string(first), `{"event":"session"`))
	_ = client.Write(ctx, []byte(`{"event":"echo","data":{"text":"hi"},"ref":"1"}`))
	reply, _ := client.Read(ctx)
	fmt.Println(string(reply))
	_ = client.Write(ctx, []byte(`{"event":"echo","data":{"text":5},"ref":"2"}`))
	bad, _ := client.Read(ctx)
	fmt.Println(string(bad))

	_ = client.Close(signaling.StatusNormalClosure, "")
	<-done
	_ = node.Shutdown(ctx)
	// Output:
	// true
	// {"seq":1,"event":"echoed","data":{"text":"hi"},"ref":"1"}
	// {"event":"error","data":{"code":"bad_request","message":"echo: field \"text\" must be a string","event":"echo","ref":"2"},"ref":"2"}
}
