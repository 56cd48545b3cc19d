package sqlchat

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"time"
)

// A batch is written with two multi-row statements, whatever its size: one claims the
// (sender, clientMsgId) pairs of its messages, one inserts the messages. Only repeats cost a
// query each (to read the earlier message).

type idem struct{ sender, cid string }

// appendBatchTx appends the messages of batch, in order, within tx.
func (s *Store) appendBatchTx(ctx context.Context, tx *sql.Tx, batch []*appendReq, now time.Time) ([]appendRes, error) {
	out := make([]appendRes, len(batch))
	// leader[i] is the index of the earlier request of the batch that i repeats (the same
	// client message id of the same sender, or the same message id), or i itself.
	leader := make([]int, len(batch))
	byKey := map[idem]int{}
	byID := map[string]int{}
	var claims []int
	for i, r := range batch {
		leader[i] = i
		if j, ok := byID[r.m.ID]; ok {
			leader[i] = j
			continue
		}
		if r.m.ClientMsgID != "" {
			k := idem{r.m.Sender.ID, r.m.ClientMsgID}
			if j, ok := byKey[k]; ok {
				leader[i] = j
				continue
			}
			byKey[k] = i
			claims = append(claims, i)
		}
		byID[r.m.ID] = i
	}

	// Claim the pairs: the ones that come back are this batch's.
	claimed := map[idem]bool{}
	for rest := claims; len(rest) > 0; {
		k := chunk(len(rest))
		args := make([]any, 0, 4*k+1)
		for _, i := range rest[:k] {
			m := batch[i].m
			args = append(args, m.Sender.ID, m.ClientMsgID, m.ID, now.UnixNano())
		}
		rest = rest[k:]
		args = append(args, now.Add(-s.window).UnixNano())
		if err := s.queryKeys(ctx, tx, stmtClaim, k, args, func(r *sql.Rows) error {
			var key idem
			if err := r.Scan(&key.sender, &key.cid); err != nil {
				return err
			}
			claimed[key] = true
			return nil
		}); err != nil {
			return nil, unavailable("append: client message ids", err)
		}
	}

	// Insert the messages whose pair was claimed, or that have none.
	var inserts []int
	for i, r := range batch {
		if leader[i] != i {
			continue
		}
		if r.m.ClientMsgID != "" && !claimed[idem{r.m.Sender.ID, r.m.ClientMsgID}] {
			// Remembered within the window: the earlier message answers.
			earlier, err := scanMessage(tx.QueryRowContext(ctx, s.q.claimed, r.m.Sender.ID, r.m.ClientMsgID))
			switch {
			case errors.Is(err, sql.ErrNoRows):
				return nil, fmt.Errorf("sqlchat: append: client message id %q of %q names no stored message", r.m.ClientMsgID, r.m.Sender.ID)
			case err != nil:
				return nil, unavailable("append: earlier message", err)
			}
			out[i] = appendRes{m: earlier, existing: true}
			continue
		}
		inserts = append(inserts, i)
	}
	if len(inserts) > 0 {
		var n int64
		for rest := inserts; len(rest) > 0; {
			k := chunk(len(rest))
			args := make([]any, 0, 8*k)
			for _, i := range rest[:k] {
				m := batch[i].m
				args = append(args, m.ID, m.RoomID, m.Content, m.Sender.ID, m.Sender.Username,
					nanos(m.CreatedAt), nanos(m.UpdatedAt), m.ClientMsgID)
			}
			rest = rest[k:]
			added, err := s.execPrepared(ctx, tx, stmtInsert, k, args)
			if err != nil {
				return nil, unavailable("append", err)
			}
			n += added
		}
		switch {
		case n == int64(len(inserts)):
			for _, i := range inserts {
				out[i] = appendRes{m: batch[i].m}
			}
		case len(inserts) == 1:
			// A message with this id was stored before.
			i := inserts[0]
			stored, err := scanMessage(tx.QueryRowContext(ctx, s.q.byID, batch[i].m.ID))
			if err != nil {
				return nil, unavailable("append: stored message", err)
			}
			out[i] = appendRes{m: stored, existing: true}
		default:
			// Some ids were stored before (a retry of an append with its id): which ones, the
			// appends tell one by one.
			return nil, errStoredBefore
		}
	}
	for i := range batch {
		if j := leader[i]; j != i {
			out[i] = appendRes{m: out[j].m, existing: true}
		}
	}
	return out, nil
}

// Every statement the writer runs is prepared once: parsing costs more than writing a row,
// and on SQLite it is what the one core would spend most on. A batch is written in chunks of
// 64, 32, …, 1 rows (its size's binary digits), so that seven statements per kind serve every
// batch size.
const (
	stmtClaim = iota
	stmtInsert
	stmtCheckpointLate // SQLite: PRAGMA wal_autocheckpoint=<walFrames> (see startCheckpointer)
	stmtKinds
	maxChunk   = 64 // rows per statement, at most
	chunkSizes = 7  // 1, 2, 4, …, maxChunk
)

// chunk returns the rows of the next statement for n rows still to write: the largest power
// of two not above n or maxChunk.
func chunk(n int) int {
	k := 1
	for k*2 <= min(n, maxChunk) {
		k *= 2
	}
	return k
}

// stmtCache holds the writer goroutine's prepared statements, by kind and chunk size
// (stmtCheckpointLate: one).
type stmtCache [stmtKinds][chunkSizes]*sql.Stmt

func (c *stmtCache) close() {
	for k := range c {
		for _, st := range c[k] {
			if st != nil {
				_ = st.Close()
			}
		}
	}
}

// queryKeys runs the statement of kind for n rows with args in tx and calls scan for every
// row. Only the writer goroutine calls it.
func (s *Store) queryKeys(ctx context.Context, tx *sql.Tx, kind, n int, args []any, scan func(*sql.Rows) error) error {
	st, err := s.stmt(ctx, kind, n)
	if err != nil {
		return err
	}
	rs, err := tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	if err != nil {
		return err
	}
	defer rs.Close()
	for rs.Next() {
		if err := scan(rs); err != nil {
			return err
		}
	}
	return rs.Err()
}

// errStoredBefore makes commit append a batch's messages one by one.
var errStoredBefore = errors.New("sqlchat: a message id of the batch is stored already")

// execPrepared runs the statement of kind for n rows with args in tx and returns the rows
// affected.
func (s *Store) execPrepared(ctx context.Context, tx *sql.Tx, kind, n int, args []any) (int64, error) {
	st, err := s.stmt(ctx, kind, n)
	if err != nil {
		return 0, err
	}
	res, err := tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// stmt returns the prepared statement of kind for n rows (a power of two up to maxChunk),
// preparing it the first time.
func (s *Store) stmt(ctx context.Context, kind, n int) (*sql.Stmt, error) {
	i := max(0, bits.Len(uint(n))-1)
	if st := s.stmts[kind][i]; st != nil {
		return st, nil
	}
	var q string
	switch kind {
	case stmtClaim:
		q = `INSERT INTO huddle_chat_client_ids (sender_id, client_msg_id, message_id, at) VALUES ` +
			rows(n, 4) + `
ON CONFLICT (sender_id, client_msg_id) DO UPDATE SET message_id = excluded.message_id, at = excluded.at
WHERE huddle_chat_client_ids.at <= ? RETURNING sender_id, client_msg_id`
	case stmtInsert:
		q = `INSERT INTO huddle_chat_messages (` + msgCols + `) VALUES ` + rows(n, 8) + ` ON CONFLICT (id) DO NOTHING`
	case stmtCheckpointLate:
		q = `PRAGMA wal_autocheckpoint=` + strconv.Itoa(walFrames)
	}
	// database/sql prepares it on each connection a transaction uses it on, once.
	st, err := s.db.PrepareContext(ctx, s.rebind(q))
	if err != nil {
		return nil, err
	}
	s.stmts[kind][i] = st
	return st, nil
}

func (s *Store) rebind(q string) string {
	if s.dialect == Postgres {
		return dollars(q)
	}
	return q
}

// rows returns n placeholder rows of cols columns: (?, ?), (?, ?).
func rows(n, cols int) string {
	one := "(" + strings.TrimSuffix(strings.Repeat("?, ", cols), ", ") + ")"
	var b strings.Builder
	b.Grow(n * (len(one) + 2))
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(one)
	}
	return b.String()
}
