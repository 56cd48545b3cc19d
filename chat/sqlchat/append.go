package sqlchat

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"time"

	"github.com/huddle-go/huddle/chat"
)

// appendReq is one Append waiting for the writer.
type appendReq struct {
	m    chat.Message
	done chan appendRes // buffered (1): the writer never blocks on it
}

type appendRes struct {
	m        chat.Message
	existing bool
	err      error
}

// Append stores m unless its client message id repeats one of the same sender within the
// idempotency window (see chat.Store). Appending a message whose id is stored already stores
// nothing either, and returns the stored message with existing true. It returns once the
// transaction holding m committed (see Group commit in the package doc). When ctx ends first,
// Append returns an error wrapping signaling.ErrUnavailable and ctx's error; the message may
// still be stored, and a retry with the same client message id finds it.
func (s *Store) Append(ctx context.Context, m chat.Message) (chat.Message, bool, error) {
	if m.ID == "" || m.RoomID == "" {
		return chat.Message{}, false, fmt.Errorf("sqlchat: append: %w: id and room id are required", chat.ErrInvalid)
	}
	r := &appendReq{m: m, done: make(chan appendRes, 1)}
	select {
	case s.reqs <- r:
	case <-s.stop:
		return chat.Message{}, false, unavailable("append", errClosed)
	case <-ctx.Done():
		return chat.Message{}, false, unavailable("append", ctx.Err())
	}
	select {
	case res := <-r.done:
		return res.m, res.existing, res.err
	case <-ctx.Done():
		return chat.Message{}, false, unavailable("append", ctx.Err())
	}
}

// writer commits the appends: each batch is the request that woke it plus every request that
// reaches the writer while it yields the processor to the goroutines ready to run, up to
// s.batch. It returns when the Store closes.
func (s *Store) writer() {
	defer close(s.done)
	var kick chan struct{} // the checkpointer's, on SQLite
	if s.dialect == SQLite {
		var stopped chan struct{}
		kick, stopped = s.startCheckpointer()
		defer func() { close(kick); <-stopped }()
	}
	commits := 0
	batch := make([]*appendReq, 0, s.batch)
	var lastExpiry time.Time
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	prev := 0 // the size of the last batch
	for {
		select {
		case r := <-s.reqs:
			batch = append(batch[:0], r)
		case <-s.stop:
			return
		}
		// Take every append that is ready: yield the processor so that the goroutines made
		// runnable meanwhile (the senders acknowledged by the last commit, new ones) reach the
		// queue, take them, and yield again while more come, a few times at most (under a
		// stream that never pauses the batch would otherwise wait to be full). On one core
		// this is what makes batches grow with the load, instead of the writer waking for each
		// sender in turn.
		for yields := 0; yields < maxYields && len(batch) < s.batch; yields++ {
			n := len(batch)
			runtime.Gosched()
			batch = s.drain(batch)
			if len(batch) == n {
				break
			}
		}
		if prev > len(batch) && s.linger > 0 {
			// Under load, wait a little for as many appends as the last batch had: fewer,
			// larger commits cost less than many small ones.
			linger.Reset(s.linger)
		gather:
			for len(batch) < min(prev, s.batch) {
				select {
				case r := <-s.reqs:
					batch = s.drain(append(batch, r))
				case <-linger.C:
					break gather
				}
			}
			linger.Stop()
		}
		prev = len(batch)
		now := s.clock.Now()
		s.commit(batch, now)
		clear(batch)
		if commits++; commits%checkpointEvery == 0 && kick != nil {
			select {
			case kick <- struct{}{}:
			default: // a checkpoint is running: it will take these frames too
			}
		}
		if now.Sub(lastExpiry) >= s.expiryEvery() {
			lastExpiry = now
			s.expire(now)
		}
	}
}

// SQLite checkpoints the WAL (copies it into the database file, syncs both, and lets the next
// transaction start the WAL afresh) after the commit that grows it past 1000 pages, on the
// committing connection: that is the writer's, so every acknowledgement would wait for the
// copy and the syncs. Here a checkpointer goroutine copies the WAL instead, on another
// connection, after every checkpointEvery commits, without waiting for anyone (PASSIVE); the
// writer's transactions move SQLite's own checkpoint to walFrames pages, where it finds the WAL
// copied but for its last commits, and syncs and restarts it, so that the WAL stays bounded
// under a load that never pauses (a PASSIVE checkpoint alone never restarts a WAL that keeps
// growing meanwhile).
const (
	checkpointEvery = 64   // commits
	walFrames       = 4000 // pages (16 MiB)
)

// startCheckpointer starts the checkpointer; close kick to stop it, and stopped is closed when
// it has.
func (s *Store) startCheckpointer() (kick chan struct{}, stopped chan struct{}) {
	kick, stopped = make(chan struct{}, 1), make(chan struct{})
	go s.checkpointer(kick, stopped)
	return kick, stopped
}

// checkpointer checkpoints the WAL each time the writer kicks it, without waiting for readers
// or the writer (PASSIVE), until kick is closed.
func (s *Store) checkpointer(kick <-chan struct{}, stopped chan<- struct{}) {
	defer close(stopped)
	for range kick {
		ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
		if _, err := s.db.ExecContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)"); err != nil {
			s.log.Warn("sqlchat: checkpointing the WAL failed", "err", err)
		}
		cancel()
	}
}

// maxYields bounds the writer's yields before a commit.
const maxYields = 3

// drain adds the appends waiting for the writer to batch, up to the batch bound.
func (s *Store) drain(batch []*appendReq) []*appendReq {
	for len(batch) < s.batch {
		select {
		case r := <-s.reqs:
			batch = append(batch, r)
		default:
			return batch
		}
	}
	return batch
}

// expiryEvery is how often the writer deletes expired client message ids.
func (s *Store) expiryEvery() time.Duration { return min(s.window, 10*time.Minute) }

// expire deletes the client message ids remembered longer than the window.
func (s *Store) expire(now time.Time) {
	ctx, cancel := context.WithTimeout(s.ctx, commitTimeout)
	defer cancel()
	if _, err := s.db.ExecContext(ctx, s.q.expire, now.Add(-s.window).UnixNano()); err != nil {
		s.log.Warn("sqlchat: deleting expired client message ids failed", "err", err)
	}
}

// commit writes a batch in one transaction and answers each request. When the transaction
// fails, each request is tried again in a transaction of its own, so that one failure does not
// fail the others.
func (s *Store) commit(batch []*appendReq, now time.Time) {
	res, err := s.tryBatch(batch, now)
	if err == nil {
		for i, r := range batch {
			r.done <- res[i]
		}
		return
	}
	if len(batch) == 1 {
		batch[0].done <- appendRes{err: err}
		return
	}
	s.log.Warn("sqlchat: a batch failed; committing its appends one by one", "size", len(batch), "err", err)
	for _, r := range batch {
		one, err := s.tryBatch([]*appendReq{r}, now)
		if err != nil {
			r.done <- appendRes{err: err}
			continue
		}
		r.done <- one[0]
	}
}

func (s *Store) tryBatch(batch []*appendReq, now time.Time) ([]appendRes, error) {
	ctx, cancel := context.WithTimeout(s.ctx, commitTimeout)
	defer cancel()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, unavailable("append: begin", err)
	}
	defer func() { _ = tx.Rollback() }()
	if s.dialect == SQLite {
		// On whichever connection the transaction got (see checkpointEvery).
		if _, err := s.execPrepared(ctx, tx, stmtCheckpointLate, 0, nil); err != nil {
			return nil, unavailable("append: wal_autocheckpoint", err)
		}
	}
	if s.dialect == Postgres {
		// A room's messages commit in seq order across nodes: lock each room of the batch, in
		// one order, for the transaction.
		rooms := make([]string, 0, len(batch))
		for _, r := range batch {
			rooms = append(rooms, r.m.RoomID)
		}
		slices.Sort(rooms)
		for _, room := range slices.Compact(rooms) {
			if _, err := tx.ExecContext(ctx, s.q.roomLock, room); err != nil {
				return nil, unavailable("append: lock room", err)
			}
		}
	}
	out, err := s.appendBatchTx(ctx, tx, batch, now)
	if err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, unavailable("append: commit", err)
	}
	return out, nil
}
