// Package accounts keeps the stream-chat server's own records in SQL: users with their bcrypt
// password hashes, hashed refresh tokens (rotated, with reuse detection), the rooms the app lists,
// and a settings table. It runs its own embedded migrations, in tables prefixed `streamchat_`, so
// that it can share one database (SQLite or PostgreSQL) with the chat store's tables.
//
// The package stores what it is given: hashing passwords and minting tokens are the caller's
// job, and a password hash never leaves the package except through UserByName, for the login
// check.
package accounts
