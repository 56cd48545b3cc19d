package cli_test

import (
	"bytes"
	"errors"
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/huddle-go/huddle/examples/internal/cli"
	"github.com/matryer/is"
)

func flags(out *bytes.Buffer) (*flag.FlagSet, *time.Duration, *bool, *int) {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(out)
	d := fs.Duration("resume-window", time.Minute, "how long")
	b := fs.Bool("dev-auth", false, "trust ?user=")
	n := fs.Int("max-participants", 8, "participants")
	return fs, d, b, n
}

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// TestParseExplainsBadValues: a duration, boolean or number that does not parse, on the command
// line or in the environment twin, is an error naming the flag (and the twin) with an example,
// and nothing is printed.
func TestParseExplainsBadValues(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want []string
	}{
		{"duration flag", []string{"-resume-window", "5"}, nil, []string{"-resume-window", `"5"`, "not a duration", "90s"}},
		{"duration twin", nil, map[string]string{"HUDDLE_RESUME_WINDOW": "5"}, []string{"HUDDLE_RESUME_WINDOW", "-resume-window", "not a duration", "1m30s"}},
		{"boolean flag", []string{"-dev-auth=yes"}, nil, []string{"-dev-auth", `"yes"`, "not a boolean", "true or false"}},
		{"boolean twin", nil, map[string]string{"HUDDLE_DEV_AUTH": "yes"}, []string{"HUDDLE_DEV_AUTH", "-dev-auth", "not a boolean", "true or false"}},
		{"number flag", []string{"-max-participants", "eight"}, nil, []string{"-max-participants", "not a whole number", "100"}},
		{"unknown flag", []string{"-nope"}, nil, []string{"-nope", "-h lists the flags"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			var out bytes.Buffer
			fs, _, _, _ := flags(&out)
			_, err := cli.Parse(fs, tc.args, env(tc.env))
			is.True(err != nil) // refused
			for _, w := range tc.want {
				is.True(strings.Contains(err.Error(), w)) // the message names the flag and shows a value
			}
			is.Equal(out.String(), "") // no usage dump after the error
		})
	}
}

// TestParseTakesFlagsThenTwins: the command line wins over the twin; a bare boolean means true;
// the twins fill in the rest; -h prints the usage with the flags' own types and returns
// flag.ErrHelp.
func TestParseTakesFlagsThenTwins(t *testing.T) {
	is := is.New(t)
	var out bytes.Buffer
	fs, d, b, n := flags(&out)
	set, err := cli.Parse(fs, []string{"-dev-auth", "-max-participants", "4"}, env(map[string]string{
		"HUDDLE_MAX_PARTICIPANTS": "6", "HUDDLE_RESUME_WINDOW": "2m",
	}))
	is.NoErr(err)                                                                                     // parsed
	is.True(*b)                                                                                       // a bare boolean is true
	is.Equal(*n, 4)                                                                                   // the command line wins
	is.Equal(*d, 2*time.Minute)                                                                       // the twin fills in
	is.Equal(set, map[string]bool{"dev-auth": true, "max-participants": true, "resume-window": true}) // what was set

	out.Reset()
	fs, _, _, _ = flags(&out)
	_, err = cli.Parse(fs, []string{"-h"}, env(nil))
	is.True(errors.Is(err, flag.ErrHelp))                              // help asked
	is.True(strings.Contains(out.String(), "-resume-window duration")) // the usage, with the flags' own types
}

// TestRedisURL: an address without a scheme says which URL is meant, in our words.
func TestRedisURL(t *testing.T) {
	is := is.New(t)
	_, err := cli.RedisOptions("localhost:6379")
	is.True(err != nil)                                              // refused
	is.True(strings.Contains(err.Error(), "redis://localhost:6379")) // the URL it meant
	is.True(!strings.Contains(err.Error(), "invalid URL scheme"))    // not go-redis's words
	_, err = cli.RedisOptions("http://localhost:6379")
	is.True(err != nil && strings.Contains(err.Error(), "redis://[:password@]host:port[/db]")) // another scheme: what is wanted
	o, err := cli.RedisOptions("redis://localhost:6379/2")
	is.NoErr(err)                      // a URL
	is.Equal(o.Addr, "localhost:6379") // its address
	is.Equal(o.DB, 2)                  // and database
}

// TestJWTSecretLength: a secret under 32 bytes is refused, saying how to make one.
func TestJWTSecretLength(t *testing.T) {
	is := is.New(t)
	err := cli.CheckJWTSecret("s3cret")
	is.True(err != nil)                                         // too short
	is.True(strings.Contains(err.Error(), "at least 32 bytes")) // says the minimum
	is.True(strings.Contains(err.Error(), "openssl rand"))      // and how to make one
	is.NoErr(cli.CheckJWTSecret(strings.Repeat("x", 32)))       // 32 bytes will do
}
