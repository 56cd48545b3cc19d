-- One meeting record per room (SQLite). record is Meeting.MarshalBinary; active mirrors
-- record's status so that active meetings are found without decoding every record.
CREATE TABLE huddle_meetings (
	room_id TEXT    PRIMARY KEY,
	active  INTEGER NOT NULL,
	record  BLOB    NOT NULL
);
CREATE INDEX huddle_meetings_active ON huddle_meetings (active);
