package ws_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/huddle-go/huddle/signaling"
	"github.com/huddle-go/huddle/signaling/ws"
	"github.com/matryer/is"
)

func TestConnClose(t *testing.T) {
	is := is.New(t)
	checkLeaks(t)
	e := start(t, nil, nil)
	gone := make(chan struct{}, 1)
	e.node.OnSession(func(_ context.Context, _ *signaling.Session, ev signaling.SessionEvent) {
		if ev == signaling.SessionGone {
			gone <- struct{}{}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c, _, err := ws.Dial(ctx, e.url+"?user=a", nil)
	is.NoErr(err) // connected
	_, err = c.Read(ctx)
	is.NoErr(err) // the session frame

	// Read answers the close handshake while several goroutines close at once.
	readErr := make(chan error, 1)
	go func() {
		for {
			if _, err := c.Read(ctx); err != nil {
				readErr <- err
				return
			}
		}
	}()
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { errs[i] = c.Close(signaling.StatusNormalClosure, "bye") })
	}
	wg.Wait()
	for _, err := range errs {
		is.NoErr(err) // Close is idempotent and safe concurrently
	}
	err = until(t, readErr, wait, "Read to end")
	var ce *signaling.CloseError
	is.True(errors.As(err, &ce))                             // Read reports the close frame
	is.Equal(ce.Code, signaling.StatusNormalClosure)         // the server's answer to our 1000
	until(t, gone, wait, "the session to end")               // 1000 ends the session at once
	is.True(c.Write(ctx, []byte(`{"event":"echo"}`)) != nil) // no writes after Close
}
