package meeting_test

import (
	"context"
	"testing"

	"github.com/matryer/is"
)

// TestRecoverOnMemoryStoreIsANoOp: Recover may be called whatever the Store; on a MemoryStore,
// which starts empty with its process, it changes nothing, live sessions included.
func TestRecoverOnMemoryStoreIsANoOp(t *testing.T) {
	is := is.New(t)
	e := newEnv(t, nil)
	host := e.connect(alice)
	start(t, host, "r1")
	is.NoErr(e.svc.Recover(context.Background())) // nothing to recover is not an error
	p := e.stored("r1").Participant(alice.ID)
	is.Equal(p.Sessions, []string{host.session}) // alice's live session is still bound
	is.Equal(p.DroppedAt, int64(0))              // and no grace started
}
