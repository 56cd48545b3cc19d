//go:build unix

package redistest

import "syscall"

// Pause freezes the server with SIGSTOP, as a Redis stalled by a slow command, a fork or a
// paused VM: connections stay open and the kernel keeps accepting and buffering what clients
// send, but nothing is answered until Resume. A test that pauses should register Resume with
// t.Cleanup, so that a failing test does not leave the process frozen.
func (s *Server) Pause() { s.signal(syscall.SIGSTOP) }

// Resume lets a paused server run again (SIGCONT); it then handles what was buffered meanwhile.
// Resume is a no-op when the server is not paused or not running.
func (s *Server) Resume() { s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig syscall.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Errorf("redistest: %v to redis-server: %v", sig, err)
	}
}
