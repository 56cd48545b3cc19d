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
		{"id from the name", "?name=%20Nobody%20", signaling.User{ID: "nobody", Username: "Nobody"}, true},
		{"no user, no name", "?", signaling.User{}, false},
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

// DevUserID gives every distinct name its own id, in any script, and the same id to the same
// name however it is capitalised or spaced.
func TestDevUserID(t *testing.T) {
	is := is.New(t)
	distinct := []string{"李", "王", "Jürgen", "Jurgen", "j-rgen", "Alice", "Alice Smith", "Alice-Smith", "alice_smith",
		"Zoë", "Zoe", "Мария", "Марія", "محمد", "😀", "😃", "!!", "??", strings.Repeat("名", 60), strings.Repeat("名", 61)}
	seen := map[string]string{}
	for _, name := range distinct {
		id := signaling.DevUserID(name)
		is.True(id != "")                          // never empty
		is.True(len(id) <= 128)                    // within the id bound
		is.True(!strings.ContainsAny(id, " \t\n")) // no white space
		if prev, ok := seen[id]; ok {
			t.Fatalf("%q and %q both became %q", prev, name, id)
		}
		seen[id] = name
	}
	is.Equal(signaling.DevUserID("李"), "李")                                               // a plain name is its own id
	is.Equal(signaling.DevUserID("Jürgen"), "jürgen")                                     // lower-cased, letters kept
	is.Equal(signaling.DevUserID("  Alice   Smith "), signaling.DevUserID("alice smith")) // case and spacing do not matter
	is.True(strings.HasPrefix(signaling.DevUserID("Alice Smith"), "alice-smith-"))        // a readable slug
}
