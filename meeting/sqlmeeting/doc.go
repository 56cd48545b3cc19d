// Package sqlmeeting is a meeting.Store on SQLite for one node, so that meetings survive a
// restart of the server. It is also a meeting.Leaser whose leases live in the process (one
// node has nobody to share timers with): with it the meeting Service's sweep re-derives every
// grace and empty timeout from the deadlines stored in the meetings, and
// meeting.Service.Recover re-arms them at start.
//
// Open it on a database opened as chat/sqlchat.OpenSQLiteDB does (WAL, busy timeout,
// BEGIN IMMEDIATE), which may be the chat store's. The schema is versioned like sqlchat's
// (migrations embedded, applied at New, recorded in huddle_meeting_migrations). Updates are
// read-modify-write transactions, serialized within the process.
//
// All methods are safe for concurrent use; database failures wrap signaling.ErrUnavailable.
package sqlmeeting
