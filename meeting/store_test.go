package meeting_test

import (
	"context"
	"testing"

	"github.com/huddle-go/huddle/internal/storetest"
	"github.com/huddle-go/huddle/meeting"
	"github.com/matryer/is"
)

// *MemoryStore is a Store: checked by the compiler, not by an assertion that cannot fail.
var _ meeting.Store = (*meeting.MemoryStore)(nil)

func TestMemoryStore(t *testing.T) {
	storetest.Meeting(t, func(*testing.T) meeting.Store { return meeting.NewMemoryStore(nil) })
}

func TestMemoryStoreZeroValue(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	var st meeting.MemoryStore // the zero value, not NewMemoryStore
	is.NoErr(st.Create(ctx, meeting.Meeting{RoomID: "r1", Status: meeting.StatusActive}))
	m, err := st.Get(ctx, "r1")
	is.NoErr(err)            // a zero MemoryStore stores
	is.Equal(m.RoomID, "r1") // and returns what it stored
	is.Equal(m.Status, meeting.StatusActive)
	storetest.Meeting(t, func(*testing.T) meeting.Store { return &meeting.MemoryStore{} })
}
