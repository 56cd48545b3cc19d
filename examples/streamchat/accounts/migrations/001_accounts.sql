-- The stream-chat server's own tables: accounts, refresh tokens, rooms and a settings row for
-- the generated token secret. Plain SQL that SQLite and PostgreSQL both accept; times are Unix
-- milliseconds. Messages and room membership live in the chat store's own tables.
CREATE TABLE streamchat_users (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

CREATE TABLE streamchat_refresh_tokens (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES streamchat_users (id) ON DELETE CASCADE,
    family     TEXT NOT NULL,
    token_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX streamchat_refresh_tokens_user ON streamchat_refresh_tokens (user_id);
CREATE INDEX streamchat_refresh_tokens_family ON streamchat_refresh_tokens (family);

CREATE TABLE streamchat_rooms (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    type       TEXT NOT NULL,
    created_by TEXT,
    created_at BIGINT NOT NULL
);

CREATE TABLE streamchat_settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
