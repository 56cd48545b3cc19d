package main

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/matryer/is"
)

func TestRefusesRemoteTargets(t *testing.T) {
	for _, target := range []string{
		"ws://example.com/ws",
		"ws://10.0.0.1:8080/ws",
		"wss://192.0.2.7/ws",
		"ws://[2001:db8::1]:8080/ws",
		"ws://127.0.0.1.example.com/ws", // a name, not an address
		"ws://localhost.example.com/ws",
		"ws://0.0.0.0:8080/ws", // unspecified, not loopback
	} {
		t.Run(target, func(t *testing.T) {
			is := is.New(t)
			err := run(context.Background(), []string{"-url", target}, noEnv, io.Discard)
			is.True(err != nil)                                              // no load leaves the machine
			is.True(strings.Contains(err.Error(), "not a loopback address")) // and it says why
			is.True(strings.Contains(err.Error(), "-allow-remote"))          // and how to override
			_, err = parseConfig([]string{"-url", target, "-allow-remote"}, noEnv, io.Discard)
			is.NoErr(err) // -allow-remote lifts the check
		})
	}
}

func TestAcceptsLoopbackTargets(t *testing.T) {
	for _, target := range []string{
		"ws://127.0.0.1:8080/ws",
		"ws://127.3.4.5/ws",
		"ws://[::1]:8080/ws",
		"ws://localhost:8080/ws",
		"ws://LOCALHOST/ws",
		"http://[::ffff:127.0.0.1]:8080/ws",
	} {
		t.Run(target, func(t *testing.T) {
			is := is.New(t)
			cfg, err := parseConfig([]string{"-url", target}, noEnv, io.Discard)
			is.NoErr(err)                      // loopback needs no flag
			is.Equal(cfg.url.String(), target) // and is kept as given
		})
	}
}

func TestConfigRefusals(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"bad scheme", []string{"-url", "ftp://127.0.0.1/ws"}, "want a ws://"},
		{"no host", []string{"-url", "ws:///ws"}, "has no host"},
		{"bad codec", []string{"-codec", "xml"}, "want json or json-payload"},
		{"no clients", []string{"-clients", "0"}, "-clients"},
		{"more rooms than clients", []string{"-clients", "3", "-rooms", "4"}, "-rooms"},
		{"zero rate", []string{"-rate", "0"}, "-rate"},
		{"zero duration", []string{"-duration", "0s"}, "-duration"},
		{"negative warmup", []string{"-warmup", "-1s"}, "-warmup"},
		{"no content", []string{"-content-bytes", "0"}, "-content-bytes"},
		{"stray argument", []string{"now"}, "unexpected arguments"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			_, err := parseConfig(tc.args, noEnv, io.Discard)
			is.True(err != nil)                             // the tool refuses to start
			is.True(strings.Contains(err.Error(), tc.want)) // with a message that names the flag
		})
	}
}

func TestDefaultsAndEnv(t *testing.T) {
	is := is.New(t)
	cfg, err := parseConfig(nil, noEnv, io.Discard)
	is.NoErr(err)
	is.Equal(cfg.url.String(), "ws://127.0.0.1:8080/ws") // the reference server's default address
	is.Equal(cfg.clients, 100)                           // the documented defaults
	is.Equal(cfg.rooms, 10)
	is.Equal(cfg.rate, 200.0)
	is.Equal(cfg.contentBytes, 64)
	is.Equal(cfg.codec.Name(), "json")
	is.Equal(cfg.tokenSecret, "") // dev auth unless a secret is given

	env := map[string]string{"HUDDLE_URL": "ws://[::1]:9000/ws", "HUDDLE_JWT_SECRET": "s3cret"}
	cfg, err = parseConfig(nil, func(k string) string { return env[k] }, io.Discard)
	is.NoErr(err)
	is.Equal(cfg.url.Host, "[::1]:9000") // $HUDDLE_URL sets the target
	is.Equal(cfg.tokenSecret, "s3cret")  // $HUDDLE_JWT_SECRET the secret, as for the server
}

func TestRateWarnings(t *testing.T) {
	tests := []struct {
		args []string
		warn bool
	}{
		{[]string{"-clients", "100", "-rate", "200"}, false}, // 2/s per client: the defaults
		{[]string{"-clients", "10", "-rate", "500"}, false},  // exactly the limit
		{[]string{"-clients", "10", "-rate", "501"}, true},
		{[]string{"-clients", "1", "-rooms", "1", "-rate", "1000"}, true},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			is := is.New(t)
			cfg, err := parseConfig(tc.args, noEnv, io.Discard)
			is.NoErr(err)
			w := cfg.warnings()
			is.Equal(len(w) == 1, tc.warn) // a warning exactly when a client would exceed 50 events/s
			if tc.warn {
				is.True(strings.Contains(w[0], "rate_limited")) // naming the consequence
			}
		})
	}
}
