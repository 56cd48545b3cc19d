package presence_test

import (
	"testing"

	"github.com/huddle-go/huddle/internal/storetest"
	"github.com/huddle-go/huddle/presence"
)

func TestMemoryStore(t *testing.T) {
	storetest.Presence(t, func(*testing.T) presence.Store { return presence.NewMemoryStore(nil) })
}
