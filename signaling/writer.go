package signaling

import (
	"context"
	"sync"
	"time"
)

// The outbound side of a session: one queue per connection, bounded in bytes, drained by one
// writer that runs only while there is something to write.

// frameOverhead is what each queued frame is charged besides its body, so that a flood of tiny
// frames is bounded too.
const frameOverhead = 64

// Close graces: how long a draining close (1000, 1008, 1012) may take to write what is queued,
// and how long an immediate one waits for a write in progress, before the connection is closed
// under the writer.
const (
	drainGrace = 2 * time.Second
	killGrace  = time.Second
)

// idleFrames is the largest queue slice (in frames) an idle attachment keeps.
const idleFrames = 4

// keepStamp is the largest stamp buffer put back in the pool; a bigger one is released.
const keepStamp = 8 << 10

// outFrame is one queued frame: a shared body and the seq to stamp on it (0: none).
type outFrame struct {
	seq  uint64
	body []byte
}

func (f outFrame) size() int { return len(f.body) + frameOverhead }

// attachment is one Conn bound to a session: its outbound queue and its writer. The writer
// goroutine is started when frames are queued and exits when the queue is empty, so that an
// idle connection has none; it alone writes to the Conn and closes it.
type attachment struct {
	conn    Conn
	batch   BatchWriter // nil: the Conn flushes every frame
	stamper SeqStamper  // nil: frames are sent as queued
	max     int         // the queue's bound in bytes (NodeOptions.QueueBytes)

	mu      sync.Mutex
	q       []outFrame
	spare   []outFrame    // the previous batch's slice, reused
	bytes   int           // bytes queued or being written
	running bool          // a writer goroutine owns the queue
	room    chan struct{} // closed when bytes drop or the attachment closes; nil: nobody waits
	closing bool          // a close was asked; the first one decides the code
	drain   bool          // write what is queued before the close frame
	code    StatusCode
	reason  string
	grace   *time.Timer
	done    chan struct{} // closed once the writer has closed the Conn

	// The writer's reused buffers (only the writer goroutine touches them).
	sb    *stampBuffer // while the writer runs; nil when idle
	runFn func()       // a.run, bound once: `go a.run()` would allocate a closure per start
}

func newAttachment(c Conn, codec Codec, maxBytes int) *attachment {
	a := &attachment{conn: c, max: maxBytes, done: make(chan struct{})}
	a.runFn = a.run
	a.batch, _ = c.(BatchWriter)
	a.stamper, _ = codec.(SeqStamper)
	return a
}

// preload queues the frames that go before anything else (session, replay, resumed), before
// the attachment is visible to publishers. They are not checked against the bound.
func (a *attachment) preload(frames []outFrame) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, f := range frames {
		a.bytes += f.size()
	}
	a.q = append(frames, a.q...)
}

// start makes sure preloaded frames are being written.
func (a *attachment) start() {
	a.mu.Lock()
	a.startLocked()
	a.mu.Unlock()
}

func (a *attachment) startLocked() {
	if !a.running && (len(a.q) > 0 || a.closing) {
		a.running = true
		go a.runFn()
	}
}

// offer queues a broadcast frame without waiting. It reports false when the frame pushed the
// queue past its bound: the connection is then closed with 1013 (first reports whether this
// call did it).
func (a *attachment) offer(f outFrame) (ok, first bool) {
	a.mu.Lock()
	if a.closing {
		a.mu.Unlock()
		return true, false // closing anyway; the frame is in the resume buffer if it counts
	}
	if a.bytes+f.size() > a.max {
		a.mu.Unlock()
		return false, a.close(StatusTryAgainLater, "slow consumer", false)
	}
	a.q = append(a.q, f)
	a.bytes += f.size()
	a.startLocked()
	a.mu.Unlock()
	return true, false
}

// waitRoom waits while the queue holds more than half its bound: a session's own replies slow
// its reader down instead of closing it, and leave the other half to broadcasts. A frame
// bigger than that waits for an empty queue. It returns ctx's error if ctx ends first, and nil
// at once when the attachment is closing.
func (a *attachment) waitRoom(ctx context.Context, size int) error {
	a.mu.Lock()
	for !a.closing && a.bytes > 0 && a.bytes+size > a.max/2 {
		if a.room == nil {
			a.room = make(chan struct{})
		}
		room := a.room
		a.mu.Unlock()
		select {
		case <-room:
		case <-ctx.Done():
			return ctx.Err()
		}
		a.mu.Lock()
	}
	a.mu.Unlock()
	return nil
}

// push queues a frame without checking the bound (the caller waited for room).
func (a *attachment) push(f outFrame) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closing {
		return
	}
	a.q = append(a.q, f)
	a.bytes += f.size()
	a.startLocked()
}

// wakeLocked releases the replies waiting for room.
func (a *attachment) wakeLocked() {
	if a.room != nil {
		close(a.room)
		a.room = nil
	}
}

// close asks the writer to close the connection with code: after writing what is queued
// (drain, bounded by drainGrace) or after the write in progress (bounded by killGrace). The
// first close decides the code and reports true; a later immediate close cuts a drain short.
func (a *attachment) close(code StatusCode, reason string, drain bool) (first bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closing {
		if !drain && a.drain {
			a.drain = false
			a.resetGraceLocked(killGrace)
		}
		return false
	}
	a.closing, a.drain, a.code, a.reason = true, drain, code, reason
	a.wakeLocked()
	if drain {
		a.resetGraceLocked(drainGrace)
	} else {
		a.resetGraceLocked(killGrace)
	}
	a.startLocked()
	return true
}

// resetGraceLocked arms the timer that closes the Conn under a writer that did not finish in
// time (a Conn's Close unblocks its Write).
func (a *attachment) resetGraceLocked(d time.Duration) {
	if a.grace != nil {
		a.grace.Stop()
	}
	code, reason := a.code, a.reason
	a.grace = time.AfterFunc(d, func() {
		a.mu.Lock()
		a.drain = false
		a.mu.Unlock()
		_ = a.conn.Close(code, reason)
	})
}

// abort closes the Conn at once, under the writer.
func (a *attachment) abort() {
	a.close(StatusServiceRestart, "server restarting", false)
	a.mu.Lock()
	code, reason := a.code, a.reason
	a.mu.Unlock()
	_ = a.conn.Close(code, reason)
}

// closeCode returns the code and reason of the close, once one was asked.
func (a *attachment) closeCode() (StatusCode, string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.code, a.reason
}

// wait blocks until the writer has closed the Conn.
func (a *attachment) wait() { <-a.done }

// run is the writer: it takes everything queued, writes it as one batch, and repeats until the
// queue is empty (then exits) or a close is due (then closes the Conn and exits).
func (a *attachment) run() {
	for {
		a.mu.Lock()
		if a.closing && (!a.drain || len(a.q) == 0) {
			code, reason := a.code, a.reason
			clear(a.q)
			a.q, a.spare, a.bytes = nil, nil, 0
			if a.grace != nil {
				a.grace.Stop()
			}
			a.mu.Unlock()
			_ = a.conn.Close(code, reason)
			close(a.done)
			return // running stays true: nobody starts another writer
		}
		if len(a.q) == 0 {
			// Idle: keep no big buffers (an idle connection should cost as little as possible);
			// a few frames' worth is kept, so that a trickle of deliveries allocates nothing.
			a.running = false
			if cap(a.q) > idleFrames {
				a.q = nil
			}
			if cap(a.spare) > idleFrames {
				a.spare = nil
			}
			a.releaseBuffers() // before another writer may start
			a.mu.Unlock()
			return
		}
		batch := a.q
		a.q = a.spare[:0]
		a.spare = nil
		a.mu.Unlock()

		n, err := a.write(batch)
		clear(batch) // let the bodies go

		a.mu.Lock()
		if cap(batch) <= 1024 {
			a.spare = batch[:0]
		}
		a.bytes -= n
		a.wakeLocked()
		a.mu.Unlock()
		if err != nil {
			a.close(StatusInternalError, "write failed", false)
		}
	}
}

// write sends a batch: one Write per frame, `seq` stamped into a reused buffer, and one flush
// for the whole batch when the Conn can batch. It returns the bytes charged for the batch.
func (a *attachment) write(batch []outFrame) (int, error) {
	n := 0
	batching := a.batch != nil && len(batch) > 1
	if batching {
		a.batch.StartBatch()
	}
	var err error
	for _, f := range batch {
		n += f.size()
		if err != nil {
			continue
		}
		frame := f.body
		if f.seq != 0 && a.stamper != nil {
			if a.sb == nil {
				a.sb, _ = stampBuffers.Get().(*stampBuffer)
				if a.sb == nil {
					a.sb = new(stampBuffer)
				}
			}
			var tail []byte
			b := a.sb
			b.prefix, tail = a.stamper.StampSeq(b.prefix, f.seq, f.body)
			b.stamp = append(append(b.stamp[:0], b.prefix...), tail...)
			frame = b.stamp
		}
		// No per-write context: a write stuck on a peer that does not read is ended by the
		// Conn's own write timeout or by the close grace closing the Conn.
		err = a.conn.Write(context.Background(), frame)
	}
	if batching {
		if ferr := a.batch.FlushBatch(); err == nil {
			err = ferr
		}
	}
	return n, err
}

// stampBuffers are the writers' buffers for stamping `seq`, taken while a writer runs.
var stampBuffers sync.Pool

// releaseBuffers returns the writer's stamp buffers to the pool; the exiting writer calls it
// with a.mu held.
func (a *attachment) releaseBuffers() {
	if b := a.sb; b != nil && cap(b.stamp) <= keepStamp && cap(b.prefix) <= keepStamp {
		b.prefix, b.stamp = b.prefix[:0], b.stamp[:0]
		stampBuffers.Put(b)
	}
	a.sb = nil
}

// stampBuffer is a writer's buffers for a frame with its `seq` stamped.
type stampBuffer struct{ prefix, stamp []byte }
