package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/huddle-go/huddle/signaling"
	"github.com/matryer/is"
)

// TestBinaryAsANewUserWouldRunIt builds the server, starts it with -dev-auth as the README says,
// has two users chat through it, then stops it with SIGTERM: both clients get 1012 and the
// process exits cleanly within 5 s.
func TestBinaryAsANewUserWouldRunIt(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	is := is.New(t)
	bin := filepath.Join(t.TempDir(), "huddle-server")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	is.NoErr(build.Run()) // the server builds

	out := newLineBuffer()
	cmd := exec.Command(bin, "-dev-auth", "-addr", "127.0.0.1:0")
	cmd.Dir = t.TempDir() // where the default -data, huddle.db, goes
	cmd.Stdout = out
	cmd.Env = append(os.Environ(), "HUDDLE_LOG_LEVEL=warn")
	is.NoErr(cmd.Start())
	var waitErr error
	exited := make(chan struct{})
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	addr := out.waitFor(t, listenLine, 10*time.Second)
	out.waitFor(t, regexpQuote("open http://"+addr+"/ in two browser windows"), time.Second)
	ts := &testServer{URL: "http://" + addr, WS: "ws://" + addr + "/ws"}

	alice := ts.dial(t, signaling.User{ID: "alice", Username: "Alice"}, "")
	bob := ts.dial(t, signaling.User{ID: "bob", Username: "Bob"}, "")
	for _, c := range []struct {
		name string
		send func(string, any)
	}{{"alice", alice.Send}, {"bob", bob.Send}} {
		c.send("join_room", map[string]string{"roomId": "lobby"})
	}
	alice.Expect("room_joined", wait)
	bob.Expect("room_joined", wait)
	alice.Send("message", map[string]string{"roomId": "lobby", "content": "hi bob"})
	var msg struct {
		Content string
		Sender  signaling.User
	}
	is.NoErr(bob.Expect("message", wait).Bind(&msg))
	is.Equal(msg.Content, "hi bob")  // bob reads alice's message
	is.Equal(msg.Sender.ID, "alice") // stamped by the server
	alice.Expect("message", wait)    // and alice gets her copy as the ack

	start := time.Now()
	is.NoErr(cmd.Process.Signal(syscall.SIGTERM))
	is.Equal(alice.ExpectClosed(wait), signaling.StatusServiceRestart) // 1012
	is.Equal(bob.ExpectClosed(wait), signaling.StatusServiceRestart)   // 1012
	select {
	case <-exited:
		is.NoErr(waitErr) // exit status 0
	case <-time.After(5 * time.Second):
		t.Fatal("the server did not exit within 5 s of SIGTERM")
	}
	t.Logf("SIGTERM to exit: %v", time.Since(start))
	out.waitFor(t, regexpQuote("huddle: stopped"), time.Second)
	_, err := os.Stat(filepath.Join(cmd.Dir, "huddle.db"))
	is.NoErr(err) // the default store is huddle.db in the working directory
}
