package ws

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"path"
	"strings"
)

// checkOrigin reports whether a browser page at the request's Origin may open the WebSocket.
// A request without Origin is not a browser's and is not checked.
//
// The request's Host header is not trusted: with DNS rebinding, a page on evil.example whose
// name resolves to this server sends Host: evil.example and a matching Origin. The server's own
// origins are the address the connection arrived on (the listen address) and localhost,
// 127.0.0.1 and [::1] on that port; any other origin must match one of the patterns.
func checkOrigin(r *http.Request, patterns []string) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return false
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	if ownOrigin(r.Context(), host, port) {
		return true
	}
	for _, p := range patterns {
		target := strings.ToLower(u.Host)
		if strings.Contains(p, "://") {
			target = strings.ToLower(u.Scheme) + "://" + target
		}
		if ok, _ := path.Match(strings.ToLower(p), target); ok {
			return true
		}
	}
	return false
}

// ownOrigin reports whether host:port is an address of this server: the local address of the
// connection, or a loopback name on its port. Without a local address (a handler called outside
// net/http's server) nothing is the server's own.
func ownOrigin(ctx context.Context, host, port string) bool {
	local, ok := ctx.Value(http.LocalAddrContextKey).(net.Addr)
	if !ok {
		return false
	}
	lhost, lport, err := net.SplitHostPort(local.String())
	if err != nil || port != lport {
		return false
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	switch host {
	case "localhost", "127.0.0.1", "::1":
		return true
	}
	if ip := net.ParseIP(host); ip != nil {
		return ip.Equal(net.ParseIP(lhost))
	}
	return false
}
