package cli

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/redis/go-redis/v9"
)

// RedisOptions parses the -redis flag: a redis:// (or rediss://, TLS) URL. An address without
// its scheme, such as localhost:6379, is an error that shows the URL it meant, in words of its
// own rather than go-redis's.
func RedisOptions(raw string) (*redis.Options, error) {
	const shape = "a Redis URL is redis://[:password@]host:port[/db], rediss:// for TLS"
	if !strings.Contains(raw, "://") {
		return nil, fmt.Errorf("-redis %q has no scheme: write redis://%s (%s)", raw, strings.TrimPrefix(raw, "//"), shape)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
		return nil, fmt.Errorf("-redis %q is not a Redis URL (%s)", raw, shape)
	}
	o, err := redis.ParseURL(raw)
	if err != nil {
		return nil, fmt.Errorf("-redis %q: %s (%s)", raw, strings.TrimPrefix(err.Error(), "redis: "), shape)
	}
	return o, nil
}
