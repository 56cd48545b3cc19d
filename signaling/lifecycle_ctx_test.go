package signaling

import (
	"context"
	"runtime"
	"testing"

	"github.com/matryer/is"
)

// TestNodeBoundContext: a session context that hangs off the node's ends with the node, and what
// is derived from it registers with the node's context directly (the context package starts no
// goroutine to watch it).
func TestNodeBoundContext(t *testing.T) {
	is := is.New(t)
	type key struct{}
	node, cancel := context.WithCancel(context.Background())
	ctx := nodeBound{values: context.WithValue(context.Background(), key{}, "v"), node: node}
	is.Equal(ctx.Value(key{}), "v") // the values are the given context's
	before := runtime.NumGoroutine()
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() { close(fired) })
	defer stop()
	child, cancelChild := context.WithCancel(ctx)
	defer cancelChild()
	is.True(runtime.NumGoroutine() <= before) // no goroutine watches the session's context
	is.NoErr(child.Err())                     // alive while the node is
	cancel()
	<-child.Done() // ends with the node
	<-fired        // and so do the callbacks on it
	is.Equal(ctx.Err(), context.Canceled)
}
