package main

import (
	"fmt"
	"net/http"
	"testing"
)

// BenchmarkRequests measures REST calls the app makes, end to end over loopback HTTP, with the
// token check (the JWT and a user lookup) and SQLite: userDetails, and opening a room with a
// history of 500 messages (GET /api/message/:roomId, the room already joined).
func BenchmarkRequests(b *testing.B) {
	ts := startServer(b, []string{"-rooms", "General"}, nil)
	alice := ts.register(b, "alice")
	_, body := ts.call(b, "GET", "/api/room/all", alice.Access, nil)
	general := decode[[]wireRoom](b, body)[0].ID
	for i := range 500 {
		code, body := ts.call(b, "POST", "/api/message/create", alice.Access, map[string]string{"roomId": general, "content": fmt.Sprintf("message %d", i)})
		if code != http.StatusCreated {
			b.Fatalf("create: %d %s", code, body)
		}
	}
	b.Run("userDetails", func(b *testing.B) {
		for b.Loop() {
			if code, _ := ts.call(b, "GET", "/api/auth/userDetails", alice.Access, nil); code != http.StatusOK {
				b.Fatal(code)
			}
		}
	})
	b.Run("history500", func(b *testing.B) {
		for b.Loop() {
			if code, _ := ts.call(b, "GET", "/api/message/"+general, alice.Access, nil); code != http.StatusOK {
				b.Fatal(code)
			}
		}
	})
}
