package sqlchat

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
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
	if len(claims) > 0 {
		args := make([]any, 0, 4*len(claims)+1)
		for _, i := range claims {
			m := batch[i].m
			args = append(args, m.Sender.ID, m.ClientMsgID, m.ID, now.UnixNano())
		}
		args = append(args, now.Add(-s.window).UnixNano())
		q := `INSERT INTO huddle_chat_client_ids (sender_id, client_msg_id, message_id, at) VALUES ` +
			rows(len(claims), 4) + `
ON CONFLICT (sender_id, client_msg_id) DO UPDATE SET message_id = excluded.message_id, at = excluded.at
WHERE huddle_chat_client_ids.at <= ? RETURNING sender_id, client_msg_id`
		if err := s.queryKeys(ctx, tx, stmtClaim, len(claims), q, args, func(r *sql.Rows) error {
			var k idem
			if err := r.Scan(&k.sender, &k.cid); err != nil {
				return err
			}
			claimed[k] = true
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
		args := make([]any, 0, 8*len(inserts))
		for _, i := range inserts {
			m := batch[i].m
			args = append(args, m.ID, m.RoomID, m.Content, m.Sender.ID, m.Sender.Username,
				nanos(m.CreatedAt), nanos(m.UpdatedAt), m.ClientMsgID)
		}
		q := `INSERT INTO huddle_chat_messages (` + msgCols + `) VALUES ` + rows(len(inserts), 8) +
			` ON CONFLICT (id) DO NOTHING`
		n, err := s.exec(ctx, tx, stmtInsert, len(inserts), q, args)
		if err != nil {
			return nil, unavailable("append", err)
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

// The statements of small batches, which are the most frequent, are prepared once: parsing
// costs more than writing one row. Larger ones are parsed each time, for many rows.
const (
	stmtClaim = iota
	stmtInsert
	stmtKinds
	maxPrepared = 16 // rows
)

// stmtCache holds the prepared statements of the writer goroutine, by kind and row count.
type stmtCache [stmtKinds][maxPrepared + 1]*sql.Stmt

func (c *stmtCache) close() {
	for k := range c {
		for _, st := range c[k] {
			if st != nil {
				_ = st.Close()
			}
		}
	}
}

// queryKeys runs q, a statement of kind for n rows, with args in tx (in the store's dialect)
// and calls scan for every row. Only the writer goroutine calls it.
func (s *Store) queryKeys(ctx context.Context, tx *sql.Tx, kind, n int, q string, args []any, scan func(*sql.Rows) error) error {
	st, err := s.stmt(ctx, kind, n, q)
	if err != nil {
		return err
	}
	var rs *sql.Rows
	if st != nil {
		rs, err = tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	} else {
		rs, err = tx.QueryContext(ctx, s.rebind(q), args...)
	}
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

// exec runs q, a statement of kind for n rows, with args in tx and returns the rows affected.
func (s *Store) exec(ctx context.Context, tx *sql.Tx, kind, n int, q string, args []any) (int64, error) {
	st, err := s.stmt(ctx, kind, n, q)
	if err != nil {
		return 0, err
	}
	var res sql.Result
	if st != nil {
		res, err = tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	} else {
		res, err = tx.ExecContext(ctx, s.rebind(q), args...)
	}
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// stmt returns the prepared statement of kind for n rows, preparing it the first time, or nil
// for a batch too large to keep one for.
func (s *Store) stmt(ctx context.Context, kind, n int, q string) (*sql.Stmt, error) {
	if n > maxPrepared {
		return nil, nil
	}
	if st := s.stmts[kind][n]; st != nil {
		return st, nil
	}
	st, err := s.db.PrepareContext(ctx, s.rebind(q))
	if err != nil {
		return nil, err
	}
	s.stmts[kind][n] = st
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
