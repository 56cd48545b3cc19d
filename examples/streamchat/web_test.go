package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/matryer/is"
)

// builtApp writes a stand-in for the app's build output (ng build: index.html, hashed bundles,
// assets).
func builtApp(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"index.html":          `<!doctype html><html><head><base href="/"></head><body><sc-root></sc-root><script src="main-ABC123.js" type="module"></script></body></html>`,
		"main-ABC123.js":      `console.log("stream-chat")`,
		"styles-DEF456.css":   `body{margin:0}`,
		"assets/img/logo.svg": `<svg xmlns="http://www.w3.org/2000/svg"/>`,
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func get(t *testing.T, url string) (int, string, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, res.Header.Get("Content-Type"), string(b)
}

// TestWebDeepLinks: -web serves the app, and a reload on any of its routes gets index.html.
func TestWebDeepLinks(t *testing.T) {
	ts := startServer(t, []string{"-web", builtApp(t)}, nil)
	const index = "<sc-root>"
	tests := []struct {
		path     string
		code     int
		contains string
		ctype    string
	}{
		{"/", 200, index, "text/html"},
		{"/index.html", 301, "", ""}, // http.FileServer redirects it to /
		{"/login", 200, index, "text/html"},
		{"/stream/chat/0b6f6a52-7d43-4f38-9b53-2a4f5f0d2f11", 200, index, "text/html"},
		{"/stream/meeting/0b6f6a52-7d43-4f38-9b53-2a4f5f0d2f11", 200, index, "text/html"},
		{"/stream/profile", 200, index, "text/html"},
		{"/main-ABC123.js", 200, "stream-chat", "javascript"},
		{"/styles-DEF456.css", 200, "margin", "text/css"},
		{"/assets/img/logo.svg", 200, "<svg", "image/svg+xml"},
		{"/main-MISSING.js", 404, "", ""},                           // a missing asset is no page
		{"/api/users", 404, `"statusCode":404`, "application/json"}, // the API's own 404
		{"/etc/passwd", 200, index, "text/html"},                    // only files under -web
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			is := is.New(t)
			res, err := client.Get(ts.URL + tc.path)
			is.NoErr(err)
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			is.Equal(res.StatusCode, tc.code)
			is.True(strings.Contains(string(b), tc.contains))
			is.True(strings.Contains(res.Header.Get("Content-Type"), tc.ctype))
		})
	}
}

// TestWebSSRBuild: a build with server-side rendering has index.csr.html instead of index.html;
// deep links get that.
func TestWebSSRBuild(t *testing.T) {
	dir := builtApp(t)
	if err := os.Rename(filepath.Join(dir, "index.html"), filepath.Join(dir, "index.csr.html")); err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, []string{"-web", dir}, nil)
	for _, p := range []string{"/", "/stream/meeting/abc"} {
		code, ctype, body := get(t, ts.URL+p)
		is.New(t).Equal(code, http.StatusOK)
		is.New(t).True(strings.HasPrefix(ctype, "text/html"))
		is.New(t).True(strings.Contains(body, "<sc-root>"))
	}
}

func TestWithoutWeb(t *testing.T) {
	ts := startServer(t, nil, nil)
	code, _, body := get(t, ts.URL+"/")
	is.New(t).Equal(code, http.StatusOK)
	is.New(t).True(strings.Contains(body, "-web"))
	code, _, _ = get(t, ts.URL+"/stream/chat")
	is.New(t).Equal(code, http.StatusNotFound)
}

// syncWriter collects what run prints.
type syncWriter struct {
	mu sync.Mutex
	b  strings.Builder
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// runCommand runs the command as main does with args and env, and returns the address it prints
// and a stop that cancels it and returns what run returned.
func runCommand(t *testing.T, args []string, env map[string]string) (string, *syncWriter, func() error) {
	t.Helper()
	out := &syncWriter{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, func(k string) string { return env[k] }, out) }()
	listen := regexp.MustCompile(`listening on (https?://\S+)`)
	deadline := time.Now().Add(wait)
	for {
		if m := listen.FindStringSubmatch(out.String()); m != nil {
			stopped := false
			stop := func() error {
				if !stopped {
					stopped = true
					cancel()
				}
				select {
				case err := <-done:
					done <- err
					return err
				case <-time.After(15 * time.Second):
					t.Fatal("run did not return after cancel")
					return nil
				}
			}
			t.Cleanup(func() { _ = stop() })
			return m[1], out, stop
		}
		select {
		case err := <-done:
			cancel()
			t.Fatalf("run returned %v; printed %q", err, out.String())
		case <-time.After(10 * time.Millisecond): // polling the output of another goroutine
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("no listening line; printed %q", out.String())
		}
	}
}

// TestOneCommand: docs/streamchat.md's command (flags, environment twins, a SQLite file created on the
// first run, seeded rooms) serves, and stops cleanly when its context ends.
func TestOneCommand(t *testing.T) {
	is := is.New(t)
	data := filepath.Join(t.TempDir(), "streamchat.db")
	base, out, stop := runCommand(t, []string{"-addr", "127.0.0.1:0", "-data", data, "-web", builtApp(t), "-log-level", "error"},
		map[string]string{"HUDDLE_ROOMS": "General,Random"})
	code, _, body := get(t, base+"/healthz")
	is.Equal(code, http.StatusOK)
	is.True(strings.Contains(body, `"status":"ok"`))
	code, _, body = get(t, base+"/stream/meeting/x")
	is.Equal(code, http.StatusOK)
	is.True(strings.Contains(body, "<sc-root>"))
	is.NoErr(stop())
	is.True(strings.Contains(out.String(), "stopped"))
	_, err := os.Stat(data)
	is.NoErr(err) // the database file was created

	// A second run on the same file keeps the rooms (and creates no duplicates).
	cfg, err := parseConfig([]string{"-data", data, "-rooms", "General,Random,Extra"}, func(string) string { return "" }, io.Discard)
	is.NoErr(err)
	srv, err := newServer(context.Background(), cfg, deps{})
	is.NoErr(err)
	defer srv.close()
	rooms, err := srv.b.accounts.Rooms(context.Background())
	is.NoErr(err)
	is.Equal(len(rooms), 3)
}

// TestTLS: with -tls-cert and -tls-key the app is served over HTTPS and its socket over WSS (a
// browser on another machine gives the camera to secure pages only).
func TestTLS(t *testing.T) {
	is := is.New(t)
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	base, _, _ := runCommand(t, []string{"-addr", "127.0.0.1:0", "-data", filepath.Join(dir, "s.db"), "-web", builtApp(t),
		"-tls-cert", certFile, "-tls-key", keyFile, "-log-level", "error"}, nil)
	is.True(strings.HasPrefix(base, "https://"))
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	res, err := client.Get(base + "/stream/meeting/x")
	is.NoErr(err)
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	is.Equal(res.StatusCode, http.StatusOK)
	is.True(strings.Contains(string(b), "<sc-root>"))

	body := strings.NewReader(`{"username":"alice","password":"long-enough"}`)
	res, err = client.Post(base+"/api/auth/register", "application/json", body)
	is.NoErr(err)
	var p tokenPair
	is.NoErr(json.NewDecoder(res.Body).Decode(&p))
	res.Body.Close()
	is.Equal(res.StatusCode, http.StatusCreated)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "wss://"+strings.TrimPrefix(base, "https://")+"/ws?token="+p.AccessToken, &websocket.DialOptions{HTTPClient: client})
	is.NoErr(err)
	_, msg, err := c.Read(ctx)
	is.NoErr(err)
	is.True(strings.Contains(string(msg), `"event":"session"`))
	_ = c.Close(websocket.StatusNormalClosure, "")
}

// selfSigned writes a certificate for 127.0.0.1 and its key, and returns a pool that trusts it.
func selfSigned(t *testing.T, dir string) (string, string, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "streamchat test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestConfigRefusalsSayWhy: the refusals a newcomer meets first name the flag and the fix.
func TestConfigRefusalsSayWhy(t *testing.T) {
	empty := t.TempDir() // a folder, but not the app's build
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"web folder without index.html", []string{"-web", empty}, nil, "has no index.html"},
		{"short JWT secret", []string{"-jwt-secret", "test-secret"}, nil, "-jwt-secret is 11 bytes: it signs every token, so it must be at least 32 bytes"},
		{"bad duration", []string{"-access-ttl", "12"}, nil, `invalid value "12" for flag -access-ttl: not a duration`},
		{"bad duration in the twin", nil, map[string]string{"HUDDLE_ACCESS_TTL": "12"}, `HUDDLE_ACCESS_TTL="12" (the environment twin of -access-ttl): not a duration`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			_, err := parseConfig(tc.args, func(k string) string { return tc.env[k] }, io.Discard)
			is.True(err != nil)                             // refused
			is.True(strings.Contains(err.Error(), tc.want)) // saying why
		})
	}
}

// TestRedisURLWithoutScheme: -redis localhost:6379 says which URL is meant, before any dial.
func TestRedisURLWithoutScheme(t *testing.T) {
	is := is.New(t)
	err := run(context.Background(), []string{"-data", filepath.Join(t.TempDir(), "s.db"), "-redis", "localhost:6379"}, func(string) string { return "" }, io.Discard)
	is.True(err != nil)                                                                                           // refused
	is.True(strings.Contains(err.Error(), `-redis "localhost:6379" has no scheme: write redis://localhost:6379`)) // the URL it meant
	is.True(!strings.Contains(err.Error(), "invalid URL scheme"))                                                 // not go-redis's words
}

func TestConfigErrors(t *testing.T) {
	for _, args := range [][]string{
		{"-web", "/does/not/exist"},
		{"-host-policy", "maybe"},
		{"-access-ttl", "1s"},
		{"-rooms", "General," + strings.Repeat("r", 101)},
		{"-log-level", "loud"},
		{"-resume-window", "-1s"},
		{"-tls-cert", "cert.pem"},
	} {
		_, err := parseConfig(args, func(string) string { return "" }, io.Discard)
		if err == nil {
			t.Errorf("%v: accepted", args)
		}
	}
}
