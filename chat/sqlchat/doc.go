// Package sqlchat is a chat.Store and chat.Membership on database/sql, for SQLite (through
// modernc.org/sqlite, pure Go: the embedded default of the reference server) and PostgreSQL
// (through github.com/jackc/pgx/v5/stdlib, for several nodes).
//
// One implementation serves both: the queries are written once with ? placeholders and
// rewritten to $n for PostgreSQL; the only other differences are the schema's identity column
// and how migrations are serialized. Open one with OpenSQLite or OpenPostgres, which open and
// own the database, or with New on a *sql.DB of yours.
//
// # Schema and migrations
//
// The schema is versioned: the migrations under migrations/ are embedded in the binary and
// applied when a Store is created, inside one transaction that on PostgreSQL holds an advisory
// lock and on SQLite the database's write lock, so that several nodes starting at once apply
// each migration once. The applied versions are recorded in huddle_chat_migrations. Tables:
// huddle_chat_messages (every message, in append order), huddle_chat_client_ids (the remembered
// (sender, clientMsgId) pairs; expired ones are deleted by the Store as it goes) and
// huddle_chat_members.
//
// # Group commit
//
// Appends are written by one goroutine per Store, which commits every append that is waiting
// when it starts a transaction in that one transaction: under load many messages share one
// commit (and one fsync, when the database syncs), and an idle Store commits each message at
// once. Before committing, the writer yields the processor while appends keep arriving, so that
// every session handling a `message` at that moment joins the batch (on one core the batch
// grows with the load instead of the writer waking for each sender), and a busy Store waits up
// to Options.CommitDelay (500 µs) for as many appends as its last batch had. A batch is written
// with two multi-row statements in chunks of 64, 32, …, 1 rows, all prepared once. Append
// returns after its transaction committed, so a message that was acknowledged is stored.
// Options.MaxBatch bounds a batch.
//
// On SQLite the WAL is copied into the database file by a goroutine of the Store's, on another
// connection, every 64 commits, rather than by the writer's commit (SQLite's default), which
// would hold up every acknowledgement waiting for it; the writer's own connection checkpoints
// only past 4000 pages, to restart the WAL under a load that never pauses.
//
// OpenSQLite also caches membership answers (Options.CacheMembership), since the chat Service
// checks membership for every message: the Store must then be the only process writing the
// file. Several nodes on one PostgreSQL database share no cache.
//
// On SQLite, OpenSQLite sets journal_mode=WAL and synchronous=NORMAL by default: a process
// that is killed loses no committed message (the WAL is in the operating system's cache), but
// a power cut or a kernel crash may lose the transactions committed since the last checkpoint,
// never corrupting the database. SQLiteOptions.Synchronous "FULL" syncs the WAL on every commit
// instead: nothing committed is lost even then, at the price of one fsync per batch.
//
// On PostgreSQL each batch first takes a transaction-scoped advisory lock per room it writes
// to, in a fixed order, so that a room's messages commit in the order of their sequence
// numbers even when several nodes append to it: a client re-syncing "after the last message I
// saw" can never skip one that committed late.
//
// All methods are safe for concurrent use. Failures of the database are returned wrapping
// signaling.ErrUnavailable (clients see `unavailable`); the domain errors chat.ErrInvalid and
// chat.ErrNotFound are returned as they are.
package sqlchat
