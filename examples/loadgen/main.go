package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // the first signal stops the run with a report; a second one kills the tool
	}()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		if errors.Is(err, errHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// run parses args, connects the clients, runs the load for -warmup plus -duration (or until
// ctx ends: a partial report), closes every client with 1000, waits for them and prints the
// report to stdout. It fails when the configuration is refused or no client could connect.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cfg, err := parseConfig(args, getenv, stdout)
	if err != nil {
		return err
	}
	l := newLoad(cfg)
	auth := "dev (?user=load-<i>)"
	if cfg.tokenSecret != "" {
		auth = "HS256 JWT"
	}
	fmt.Fprintf(stdout, "loadgen: %s: %d clients in %d rooms (load-%s-*), %g msg/s open-loop (%.2f/s per client), %v warmup + %v measured, %d-byte content, codec %s, auth %s\n",
		cfg.url, cfg.clients, cfg.rooms, l.runID, cfg.rate, cfg.perClientRate(), cfg.warmup, cfg.duration, cfg.contentBytes, cfg.codec.Name(), auth)
	for _, w := range cfg.warnings() {
		fmt.Fprintf(stdout, "warning: %s\n", w)
	}
	res := l.execute(ctx)
	l.report(stdout, res)
	if res.connected == 0 {
		return errors.New("loadgen: no client connected")
	}
	return nil
}

// load is one run.
type load struct {
	cfg   config
	clk   monoClock
	runID string
	stats *stats
	// roomSize is the number of joined clients per room; written before the writers start.
	roomSize map[string]int
}

func newLoad(cfg config) *load {
	return &load{
		cfg:   cfg,
		clk:   newMonoClock(),
		runID: fmt.Sprintf("%06x", rand.Uint32()&0xffffff),
		stats: newStats(),
	}
}

// monoClock gives Unix nanoseconds read from the monotonic clock: stamps of one process compare
// correctly even if the wall clock steps during the run.
type monoClock struct {
	base     time.Time
	baseNano int64
}

func newMonoClock() monoClock {
	t := time.Now()
	return monoClock{base: t, baseNano: t.UnixNano()}
}

func (c monoClock) now() int64 { return c.baseNano + int64(time.Since(c.base)) }

// result is what execute observed besides the counters in stats.
type result struct {
	connected   int
	connectTime time.Duration
	sizes       [2]int        // smallest and largest room, in joined clients
	interrupted string        // the phase a cancelled ctx stopped, or ""
	measured    time.Duration // measured time actually run
	// The server's process, when -server-pid: before connecting, after connecting, at the
	// start and the end of the measured window.
	procBase, procConnected, procFrom, procTo procSample
	drainWait                                 time.Duration
	closeTime                                 time.Duration
}

// execute runs the phases: connect and join, schedule, drain, close.
func (l *load) execute(ctx context.Context) result {
	var res result
	res.procBase = l.sample()
	start := time.Now()
	clients := l.connectAll(ctx)
	res.connectTime, res.connected = time.Since(start), len(clients)
	res.procConnected = l.sample()
	if ctx.Err() != nil || len(clients) == 0 {
		if ctx.Err() != nil {
			res.interrupted = "connecting"
		}
		res.closeTime = closeAll(clients)
		return res
	}
	l.roomSize = map[string]int{}
	for _, c := range clients {
		l.roomSize[c.room]++
	}
	res.sizes = [2]int{math.MaxInt, 0}
	for r := range l.cfg.rooms {
		n := l.roomSize[l.roomName(r)]
		res.sizes = [2]int{min(res.sizes[0], n), max(res.sizes[1], n)}
	}

	if l.cfg.signal {
		if err := l.pairUp(ctx, clients); err != nil {
			l.stats.clientError("meeting", err)
			res.closeTime = closeAll(clients)
			return res
		}
	}
	var writers sync.WaitGroup
	for _, c := range clients {
		c.queue = make(chan sendItem, queueSize)
		writers.Add(1)
		go c.writeLoop(&writers)
	}
	var interrupted bool
	if l.cfg.idle {
		res.procFrom = l.sample()
		res.measured, interrupted = l.hold(ctx)
		res.procTo = l.sample()
	} else {
		from := make(chan procSample, 1)
		fromTimer := time.AfterFunc(l.cfg.warmup, func() { from <- l.sample() })
		res.measured, interrupted = l.schedule(ctx, clients)
		if fromTimer.Stop() { // interrupted in the warmup
			res.procFrom = l.sample()
		} else {
			res.procFrom = <-from
		}
	}
	for _, c := range clients {
		close(c.queue)
	}
	writers.Wait()
	if interrupted {
		res.interrupted = "sending"
		if res.measured == 0 {
			res.interrupted = "warming up"
		}
	}

	// Wait for the deliveries still in flight (not long after an interrupt).
	budget, done := l.cfg.drain, ctx.Done()
	if interrupted {
		budget, done = min(budget, time.Second), nil
	}
	drainStart := time.Now()
	deadline := time.NewTimer(budget)
	tick := time.NewTicker(5 * time.Millisecond)
drain:
	for l.stats.received.Load() < l.stats.expected.Load() {
		select {
		case <-tick.C:
		case <-deadline.C:
			break drain
		case <-done:
			res.interrupted = "draining"
			break drain
		}
	}
	tick.Stop()
	deadline.Stop()
	res.drainWait = time.Since(drainStart)
	if !l.cfg.idle {
		// After the drain: a server that lags behind spends the window's CPU later.
		res.procTo = l.sample()
	}
	res.closeTime = closeAll(clients)
	return res
}

// connectAll connects the clients, at most -connect-concurrency at a time, and returns those
// that joined their room.
func (l *load) connectAll(ctx context.Context) []*client {
	all := make([]*client, l.cfg.clients)
	sem := make(chan struct{}, l.cfg.concurrency)
	var wg sync.WaitGroup
dial:
	for i := range l.cfg.clients {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			break dial
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, kind, err := l.connectClient(ctx, i)
			if err != nil {
				if ctx.Err() == nil {
					l.stats.clientError("connect_"+kind, err)
				}
				return
			}
			all[i] = c
		}()
	}
	wg.Wait()
	var clients []*client
	for _, c := range all {
		if c != nil {
			clients = append(clients, c)
		}
	}
	return clients
}

// schedule is the open-loop scheduler: message k is due at start + k/rate and goes to client
// k mod n, whatever happened to earlier messages (a late scheduler catches up at once); it runs
// until warmup+duration has passed or ctx ends. A client whose queue is full skips the message (counted). It returns the measured
// time it covered and whether ctx ended it.
func (l *load) schedule(ctx context.Context, clients []*client) (time.Duration, bool) {
	start := l.clk.now()
	from := start + int64(l.cfg.warmup)
	end := from + int64(l.cfg.duration)
	covered := func() time.Duration { return time.Duration(max(0, min(l.clk.now(), end)-from)) }
	per := float64(time.Second) / l.cfg.rate
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for k := int64(0); ; k++ {
		due := start + int64(float64(k)*per)
		if due >= end {
			return time.Duration(end - from), false
		}
		if wait := due - l.clk.now(); wait > 0 {
			timer.Reset(time.Duration(wait))
			select {
			case <-timer.C:
			case <-ctx.Done():
				return covered(), true
			}
		} else if ctx.Err() != nil {
			return covered(), true
		}
		// The stamp is when the message is handed to its client: a writer stuck behind earlier
		// messages counts in the latency, the timer waking up late does not (it is measured
		// apart, as the scheduler's lag).
		// Whether it counts depends on when it was due, not on when it went out.
		now, measured := l.clk.now(), due >= from
		if measured {
			l.stats.lag.Record(time.Duration(now - due))
		}
		c := clients[k%int64(len(clients))]
		select {
		case c.queue <- sendItem{stamp: now, measured: measured}:
		default:
			if measured {
				l.stats.skipped.Add(1)
			}
		}
	}
}

// pairUp (-signal) puts each room's two clients in a meeting: the first starts it, the
// other joins; each then sends to the other.
func (l *load) pairUp(ctx context.Context, clients []*client) error {
	byRoom := map[string][]*client{}
	for _, c := range clients {
		byRoom[c.room] = append(byRoom[c.room], c)
	}
	sem := make(chan struct{}, l.cfg.concurrency)
	errs := make(chan error, len(byRoom))
	var wg sync.WaitGroup
	for _, pair := range byRoom {
		if len(pair) != 2 {
			return fmt.Errorf("loadgen: room %s has %d clients, not 2", pair[0].room, len(pair))
		}
		pair[0].peer, pair[1].peer = pair[1].user, pair[0].user
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := pair[0].enterMeeting(ctx, true); err != nil {
				errs <- err
				return
			}
			if err := pair[1].enterMeeting(ctx, false); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs // nil when none failed
}

// sample reads the server's processes, when -server-pid is set, and sums them; a failure is a
// client error.
func (l *load) sample() procSample {
	var sum procSample
	for _, pid := range l.cfg.serverPIDs {
		s, err := sampleProc(pid)
		if err != nil {
			l.stats.clientError("proc", err)
			return procSample{}
		}
		sum.cpu += s.cpu
		sum.rss += s.rss
		sum.peak += s.peak
		sum.valid = true
	}
	return sum
}

// hold is -idle's schedule: nothing is sent for -duration (or until ctx ends).
func (l *load) hold(ctx context.Context) (time.Duration, bool) {
	start := time.Now()
	t := time.NewTimer(l.cfg.duration)
	defer t.Stop()
	select {
	case <-t.C:
		return l.cfg.duration, false
	case <-ctx.Done():
		return time.Since(start), true
	}
}

// closeAll closes every client at once (leave_room, then 1000) and waits for all of them.
func closeAll(clients []*client) time.Duration {
	start := time.Now()
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Go(func() { c.close(true) })
	}
	wg.Wait()
	return time.Since(start)
}
