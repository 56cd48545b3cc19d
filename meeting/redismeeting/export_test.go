package redismeeting

// MeetingKey, LeaseKey and IndexKey name the keys of s.
func MeetingKey(s *Store, roomID string) string { return s.meetingKey(roomID) }
func LeaseKey(s *Store, roomID string) string   { return s.leaseKey(roomID) }
func IndexKey(s *Store) string                  { return s.indexKey() }
