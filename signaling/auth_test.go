package signaling_test

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/huddle-go/huddle/signaling"
	"github.com/matryer/is"
)

func TestDevAuthenticator(t *testing.T) {
	long := strings.Repeat("x", 129)
	tests := []struct {
		name  string
		query string
		want  signaling.User
		ok    bool
	}{
		{"id and name", "?user=alice&name=Alice", signaling.User{ID: "alice", Username: "Alice"}, true},
		{"name defaults to the id", "?user=bob", signaling.User{ID: "bob", Username: "bob"}, true},
		{"spaces trimmed", "?user=%20carol%20&name=%20Carol%20", signaling.User{ID: "carol", Username: "Carol"}, true},
		{"no user", "?name=Nobody", signaling.User{}, false},
		{"blank user", "?user=%20", signaling.User{}, false},
		{"id too long", "?user=" + long, signaling.User{}, false},
		{"name too long", "?user=dave&name=" + long, signaling.User{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			id, err := signaling.DevAuthenticator{}.Authenticate(httptest.NewRequest("GET", "/ws"+tc.query, nil))
			if !tc.ok {
				is.True(errors.Is(err, signaling.ErrUnauthenticated)) // refused as unauthenticated
				return
			}
			is.NoErr(err)
			is.Equal(id.User, tc.want)   // the user from the query
			is.True(id.Expires.IsZero()) // dev identities never expire
		})
	}
}
