-- Chat messages, remembered client message ids and room membership (SQLite).
-- Times are Unix nanoseconds (UTC). seq is the append order, which history pages by.
CREATE TABLE huddle_chat_messages (
	seq           INTEGER PRIMARY KEY,
	id            TEXT    NOT NULL UNIQUE,
	room_id       TEXT    NOT NULL,
	sender_id     TEXT    NOT NULL,
	sender_name   TEXT    NOT NULL,
	content       TEXT    NOT NULL,
	created_at    INTEGER NOT NULL,
	updated_at    INTEGER NOT NULL,
	client_msg_id TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX huddle_chat_messages_room ON huddle_chat_messages (room_id, seq);

CREATE TABLE huddle_chat_client_ids (
	sender_id     TEXT    NOT NULL,
	client_msg_id TEXT    NOT NULL,
	message_id    TEXT    NOT NULL,
	at            INTEGER NOT NULL,
	PRIMARY KEY (sender_id, client_msg_id)
);
CREATE INDEX huddle_chat_client_ids_at ON huddle_chat_client_ids (at);

CREATE TABLE huddle_chat_members (
	room_id   TEXT    NOT NULL,
	user_id   TEXT    NOT NULL,
	username  TEXT    NOT NULL,
	joined_at INTEGER NOT NULL,
	PRIMARY KEY (room_id, user_id)
);
CREATE INDEX huddle_chat_members_user ON huddle_chat_members (user_id, room_id);
