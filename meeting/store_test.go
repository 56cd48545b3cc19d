package meeting_test

import (
	"testing"

	"github.com/huddle-go/huddle/internal/storetest"
	"github.com/huddle-go/huddle/meeting"
	"github.com/matryer/is"
)

func TestMemoryStore(t *testing.T) {
	is := is.New(t)
	var st meeting.Store = meeting.NewMemoryStore()
	is.True(st != nil) // *MemoryStore is a Store
	storetest.Meeting(t, func(*testing.T) meeting.Store { return meeting.NewMemoryStore() })
}

func TestMemoryStoreZeroValue(t *testing.T) {
	is := is.New(t)
	var st meeting.Store = &meeting.MemoryStore{}
	is.True(st != nil) // the zero MemoryStore is usable
	storetest.Meeting(t, func(*testing.T) meeting.Store { return &meeting.MemoryStore{} })
}
