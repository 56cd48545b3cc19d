package redispresence

// SetBatch makes the reap script of s claim at most about n sessions per run.
func SetBatch(s *Store, n int) { s.batch = n }
