package ws_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/huddle-go/huddle/signaling"
	"github.com/huddle-go/huddle/signaling/ws"
)

// Behind one reverse proxy: the per-IP limits count the address the proxy saw, the last entry
// of X-Forwarded-For, and a page on another domain needs an origin pattern.
func ExampleOptions_behindAProxy() {
	node := signaling.NewNode(nil)
	defer node.Shutdown(context.Background())
	h, err := ws.Handler(node, &ws.Options{
		Authenticator:  signaling.DevAuthenticator{},
		OriginPatterns: []string{"chat.example.com"},
		TrustedProxies: 1,
		UpgradeRate:    0.1, // one upgrade per 10 s per client IP...
		UpgradeBurst:   1,   // ...and one at once
		Refused:        func(_ *http.Request, why ws.Refusal) { fmt.Println("refused:", why) },
	})
	if err != nil {
		panic(err) // no Authenticator, or a malformed origin pattern
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	try := func(forwardedFor, origin string) {
		req, _ := http.NewRequest("GET", srv.URL+"?user=alice", nil)
		req.Header.Set("X-Forwarded-For", forwardedFor)
		req.Header.Set("Origin", origin)
		res, err := http.DefaultClient.Do(req) // not an upgrade: 426 once every check passed
		if err != nil {
			panic(err)
		}
		res.Body.Close()
		fmt.Println(res.StatusCode)
	}
	try("10.1.1.1, 203.0.113.5", "https://chat.example.com") // the client the proxy saw: 203.0.113.5
	try("203.0.113.99, 203.0.113.5", "https://chat.example.com")
	try("198.51.100.7", "https://evil.example")
	// Output:
	// 426
	// refused: upgrade_rate
	// 429
	// refused: origin
	// 403
}
