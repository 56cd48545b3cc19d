// Package redisbroker is a signaling.Broker on Redis pub/sub, so that several Huddle nodes share
// one hub: an event published on any node reaches the sessions subscribed on every node.
//
// It uses sharded pub/sub (SSUBSCRIBE/SPUBLISH) when the server is Redis 7 or newer, and classic
// pub/sub otherwise or on a Cluster client. A node subscribes only to the topics it has sessions
// for. It takes the caller's redis.UniversalClient, so an app reuses its client, Sentinel or
// Cluster setup; keys and channels are namespaced by a prefix.
package redisbroker

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/huddle-go/huddle/signaling"
	"github.com/redis/go-redis/v9"
)

// Options configures a Broker.
type Options struct {
	// Prefix namespaces the pub/sub channels. Default: "huddle:".
	Prefix string
	// Sharded forces sharded pub/sub on (true) or off (false). Default: on for Redis 7+ on a
	// non-Cluster client.
	Sharded *bool
	// Logger receives errors of the subscription loop. Default: silent.
	Logger *slog.Logger
	// ConfirmTimeout bounds how long Subscribe waits for Redis to confirm a new subscription.
	// Default: 5 s.
	ConfirmTimeout time.Duration
}

// Broker is a signaling.Broker on Redis pub/sub. It is safe for concurrent use; Close releases it.
type Broker struct {
	rdb     redis.UniversalClient
	prefix  string
	sharded bool
	log     *slog.Logger
	ps      *redis.PubSub

	confirmTimeout time.Duration

	mu      sync.Mutex
	subs    map[string][]*sub          // by channel
	waiting map[string][]chan struct{} // Subscribe calls waiting for Redis to confirm
	closed  bool

	cancel context.CancelFunc
	done   chan struct{}
}

type sub struct{ deliver func([]byte) }

var (
	_ signaling.CountingBroker     = (*Broker)(nil)
	_ signaling.CrossProcessBroker = (*Broker)(nil)
)

// New returns a Broker on rdb and starts its receive loop.
func New(ctx context.Context, rdb redis.UniversalClient, opts *Options) (*Broker, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Prefix == "" {
		o.Prefix = "huddle:"
	}
	if o.ConfirmTimeout <= 0 {
		o.ConfirmTimeout = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	sharded := false
	if o.Sharded != nil {
		sharded = *o.Sharded
	} else if _, cluster := rdb.(*redis.ClusterClient); !cluster {
		major, err := serverMajor(ctx, rdb)
		if err != nil {
			return nil, fmt.Errorf("redisbroker: %w: %w", signaling.ErrUnavailable, err)
		}
		sharded = major >= 7
	}
	b := &Broker{rdb: rdb, prefix: o.Prefix + "ps:", sharded: sharded, log: o.Logger, confirmTimeout: o.ConfirmTimeout, subs: map[string][]*sub{}, waiting: map[string][]chan struct{}{}, done: make(chan struct{})}
	if sharded {
		b.ps = rdb.SSubscribe(ctx)
	} else {
		b.ps = rdb.Subscribe(ctx)
	}
	lctx, cancel := context.WithCancel(context.Background())
	b.cancel = cancel
	go b.loop(lctx)
	return b, nil
}

func serverMajor(ctx context.Context, rdb redis.UniversalClient) (int, error) {
	info, err := rdb.Info(ctx, "server").Result()
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:"); ok {
			var major int
			_, _ = fmt.Sscanf(v, "%d", &major)
			return major, nil
		}
	}
	return 0, nil
}

// CrossProcess reports true: Nodes in other processes share the Broker through Redis, so a Node
// on it turns cross-node resume on by default (signaling.CrossProcessBroker).
func (b *Broker) CrossProcess() bool { return true }

// Sharded reports whether the broker uses sharded pub/sub.
func (b *Broker) Sharded() bool { return b.sharded }

func (b *Broker) loop(ctx context.Context) {
	defer close(b.done)
	ch := b.ps.ChannelWithSubscriptions(redis.WithChannelSize(4096))
	for {
		select {
		case <-ctx.Done():
			return
		case v, ok := <-ch:
			if !ok {
				return
			}
			if sub, ok := v.(*redis.Subscription); ok {
				if sub.Kind == "subscribe" || sub.Kind == "ssubscribe" {
					b.confirm(sub.Channel)
				}
				continue
			}
			m, ok := v.(*redis.Message)
			if !ok {
				continue
			}
			b.mu.Lock()
			subs := b.subs[m.Channel]
			b.mu.Unlock()
			if len(subs) == 0 {
				continue
			}
			msg := []byte(m.Payload)
			for _, s := range subs {
				s.deliver(msg)
			}
		}
	}
}

// confirm wakes the Subscribe calls waiting for channel. A confirmation nobody waits for is
// go-redis resubscribing after it lost its connection: what was published to the channel in
// between was not delivered, and that is said rather than dropped silently.
func (b *Broker) confirm(channel string) {
	b.mu.Lock()
	ws := b.waiting[channel]
	delete(b.waiting, channel)
	b.mu.Unlock()
	if len(ws) == 0 {
		b.log.Warn("redisbroker: resubscribed after a lost connection; events published in between were not delivered", "channel", channel)
	}
	for _, w := range ws {
		close(w)
	}
}

// Publish sends msg to every node subscribed to topic. A Redis failure wraps
// signaling.ErrUnavailable.
func (b *Broker) Publish(ctx context.Context, topic string, msg []byte) error {
	_, err := b.PublishCount(ctx, topic, msg)
	return err
}

// PublishCount is Publish, returning how many nodes (Broker subscriptions on Redis) received
// msg: Redis's answer to PUBLISH / SPUBLISH.
func (b *Broker) PublishCount(ctx context.Context, topic string, msg []byte) (int, error) {
	var cmd *redis.IntCmd
	if b.sharded {
		cmd = b.rdb.SPublish(ctx, b.prefix+topic, msg)
	} else {
		cmd = b.rdb.Publish(ctx, b.prefix+topic, msg)
	}
	n, err := cmd.Result()
	if err != nil {
		return 0, fmt.Errorf("redisbroker: publish %s: %w: %w", topic, signaling.ErrUnavailable, err)
	}
	return int(n), nil
}

// Subscribe calls deliver with every message published to topic until cancel is called. The
// node's Redis subscription is made on the first local subscriber and dropped with the last.
func (b *Broker) Subscribe(ctx context.Context, topic string, deliver func([]byte)) (func() error, error) {
	ch := b.prefix + topic
	s := &sub{deliver: deliver}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, signaling.ErrClosed
	}
	old := b.subs[ch]
	first := len(old) == 0
	next := make([]*sub, len(old), len(old)+1)
	copy(next, old)
	b.subs[ch] = append(next, s)
	b.mu.Unlock()
	if first {
		// Wait for Redis to confirm, so that a message published after Subscribe returns (by
		// any node) is delivered. The Node never calls Subscribe from a deliver callback.
		confirmed := make(chan struct{})
		b.mu.Lock()
		b.waiting[ch] = append(b.waiting[ch], confirmed)
		b.mu.Unlock()
		var err error
		if b.sharded {
			err = b.ps.SSubscribe(ctx, ch)
		} else {
			err = b.ps.Subscribe(ctx, ch)
		}
		if err == nil {
			wctx, cancel := context.WithTimeout(ctx, b.confirmTimeout)
			select {
			case <-confirmed:
			case <-wctx.Done():
				err = fmt.Errorf("no confirmation within %v", b.confirmTimeout)
			}
			cancel()
		}
		if err != nil {
			b.mu.Lock()
			b.waiting[ch] = slices.DeleteFunc(b.waiting[ch], func(c chan struct{}) bool { return c == confirmed })
			b.mu.Unlock()
			if b.remove(ch, s) {
				if b.sharded {
					_ = b.ps.SUnsubscribe(context.Background(), ch)
				} else {
					_ = b.ps.Unsubscribe(context.Background(), ch)
				}
			}
			return nil, fmt.Errorf("redisbroker: subscribe %s: %w: %w", topic, signaling.ErrUnavailable, err)
		}
	}
	var once sync.Once
	return func() error {
		var err error
		once.Do(func() {
			if b.remove(ch, s) {
				if b.sharded {
					err = b.ps.SUnsubscribe(context.Background(), ch)
				} else {
					err = b.ps.Unsubscribe(context.Background(), ch)
				}
			}
		})
		if err != nil {
			return fmt.Errorf("redisbroker: unsubscribe %s: %w", topic, err)
		}
		return nil
	}, nil
}

// remove drops s and reports whether the channel has no subscriber left.
func (b *Broker) remove(ch string, s *sub) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	old := b.subs[ch]
	next := make([]*sub, 0, len(old))
	for _, o := range old {
		if o != s {
			next = append(next, o)
		}
	}
	if len(next) == 0 {
		delete(b.subs, ch)
		return len(old) > 0
	}
	b.subs[ch] = next
	return false
}

// Close stops the receive loop and releases the subscription connection. It does not close the
// caller's client.
func (b *Broker) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.mu.Unlock()
	err := b.ps.Close()
	b.cancel()
	<-b.done
	return err
}
