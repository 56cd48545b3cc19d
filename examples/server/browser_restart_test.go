package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/matryer/is"
)

// serverProcess is the reference server binary, started (and restarted) on one address and one
// SQLite file.
type serverProcess struct {
	t      *testing.T
	bin    string
	args   []string
	cmd    *exec.Cmd
	exited chan struct{}
}

func (s *serverProcess) start() {
	s.t.Helper()
	out := newLineBuffer()
	s.cmd = exec.Command(s.bin, s.args...)
	s.cmd.Stdout = out
	s.cmd.Stderr = os.Stderr
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("start the server: %v", err)
	}
	exited := make(chan struct{})
	s.exited = exited
	cmd := s.cmd
	go func() { _ = cmd.Wait(); close(exited) }()
	out.waitFor(s.t, listenLine, 20*time.Second)
}

// kill ends the process with SIGKILL: no graceful shutdown, no 1012.
func (s *serverProcess) kill() {
	s.t.Helper()
	_ = s.cmd.Process.Kill() // an error means it has exited already
	<-s.exited
}

// TestBrowserServerRestart (issue 10): the server binary on a SQLite file is killed mid-call
// and started again. The resume is refused (the sessions died with the process), so both pages
// re-sync: within 10 s they are in the call again with video flowing, and the chat shows every
// message exactly once, the one sent during the outage included.
func TestBrowserServerRestart(t *testing.T) {
	is := is.New(t)
	if testing.Short() {
		t.Skip("browser end-to-end")
	}
	chromiumPath(t) // skips without Chromium, before the build
	bin := filepath.Join(t.TempDir(), "huddle-server")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	is.NoErr(build.Run()) // the server builds
	help, _ := exec.Command(bin, "-h").CombinedOutput()
	if !strings.Contains(string(help), "-data") {
		t.Skip("this server has no -data flag (durable stores): nothing survives a restart")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	is.NoErr(err)
	addr := ln.Addr().String()
	is.NoErr(ln.Close()) // the same port again after the restart: the pages reconnect to it
	srv := &serverProcess{t: t, bin: bin, args: []string{"-dev-auth", "-addr", addr, "-log-level", "warn",
		"-data", filepath.Join(t.TempDir(), "huddle.db")}}
	srv.start()
	t.Cleanup(func() { srv.kill() })
	url := "http://" + addr
	b := newBrowser(t)

	alice, bob := b.newPage("alice"), b.newPage("bob")
	alice.signIn(url, "Alice")
	bob.signIn(url, "Bob")
	// Both are also in "side", which Bob does not have open when the server dies.
	alice.joinRoom("side")
	bob.joinRoom("side")
	alice.send("side before")
	bob.waitMessage("side before")
	alice.joinRoom("ops")
	bob.joinRoom("ops")
	alice.send("before 1")
	bob.waitMessage("before 1")
	bob.send("before 2")
	alice.waitMessage("before 2")
	alice.startMeeting()
	bob.do(chromedp.WaitVisible(chromedp.CSS("#invitation")), chromedp.Click(chromedp.CSS("#invitation-join")))
	bob.waitInCall()
	alice.waitVideoFrom("bob")
	bob.waitVideoFrom("alice")

	srv.kill()
	for _, p := range []*page{alice, bob} {
		p.waitJS("the lost connection noticed", `window.huddle.state.connection !== 'ready'`, browserWait)
		p.do(chromedp.Evaluate[chromedp.Void](`__huddleTest.markOld()`))
	}
	alice.send("during the outage") // queued until the server is back
	// Bob's page holds back its reconnect (as a page in the back/forward cache does) until Alice
	// has posted in "side" on the new server: that message reaches Bob only through the
	// catch-up (get_history after the last message he saw), not live and not as the open room.
	bob.do(chromedp.Evaluate[chromedp.Void](`window.huddle.client._pageHidden()`))
	restarted := time.Now()
	srv.start()
	alice.waitJS("a fresh session", `window.huddle.state.connection === 'ready'`, 10*time.Second)
	is.Equal(eval[string](alice, `window.huddle.client.request('message', { roomId: 'side', content: 'side while Bob was away', clientMsgId: 'side-1' },
		{ reply: 'message', match: (d) => d?.clientMsgId === 'side-1' }).then((m) => m.content)`), "side while Bob was away")
	bob.do(chromedp.Evaluate[chromedp.Void](`window.huddle.client._pageShown()`))

	// Within 10 s of the restart both pages are in the call again with video flowing.
	left := func() time.Duration { return max(10*time.Second-time.Since(restarted), time.Second) }
	for _, p := range []*page{alice, bob} {
		p.waitJS("a fresh session", `window.huddle.state.connection === 'ready'`, left())
	}
	for _, pair := range []struct {
		p    *page
		from string
	}{{alice, "bob"}, {bob, "alice"}} {
		pair.p.waitJS("a new connection to "+pair.from, `window.huddle.state.peerConnections().some((pc) => !pc.__old && pc.connectionState === 'connected')`, left())
		pair.p.waitJS("video from "+pair.from+" on the new connection", `__huddleTest.inbound('video').then((s) => s.frames > 0)`, left())
		pair.p.waitJS("the call view", `document.querySelector('#meeting').dataset.state === 'in-call'`, left())
	}
	took := time.Since(restarted)
	t.Logf("both pages back in the call with video %v after the restart", took.Round(100*time.Millisecond))
	is.True(took <= 10*time.Second) // within 10 s
	for _, p := range []*page{alice, bob} {
		p.waitFramesGrow("video after the restart")
	}
	for _, p := range []*page{alice, bob} {
		sessions := p.events("session")
		is.Equal(sessions[len(sessions)-1].Resumed, false) // the restart refused the resume: this was a re-sync
	}
	bob.waitJS("the side message caught up", `window.huddle.state.messages('side').some((m) => m.content === 'side while Bob was away')`, browserWait)
	is.Equal(eval[int](bob, `window.huddle.state.messages('side').filter((m) => m.id).length`), 2)                           // both side messages, once each
	is.True(eval[int](bob, `Number(document.querySelector('.room-item[data-room="side"] .unread')?.textContent ?? 0)`) >= 1) // shown as unread

	// The chat shows every message once: before, during and after the outage.
	bob.send("after")
	all := []string{"before 1", "before 2", "during the outage", "after"}
	for _, p := range []*page{alice, bob} {
		for _, m := range all {
			p.waitMessage(m)
		}
		counts := eval[[]int](p, fmt.Sprintf(`%s.map((c) => [...document.querySelectorAll('#messages .message[data-id] .content')].filter((e) => e.textContent === c).length)`, mustJSON(t, all)))
		is.Equal(counts, []int{1, 1, 1, 1}) // each message exactly once
	}
	is.Equal(eval[bool](bob, `!!document.querySelector('.room-item[data-room="ops"] .live')`), true) // the meeting is still LIVE

	// Once more, but the host stays away longer than the host grace (500 ms on the new process):
	// the meeting ends while Alice is gone. Both pages say so and drop the LIVE badge, and
	// neither is left in a dead call.
	srv.kill()
	alice.do(chromedp.Evaluate[chromedp.Void](`window.huddle.client._pageHidden()`))
	srv.args = append(srv.args, "-host-grace", "500ms")
	srv.start()
	bob.waitJS("the end of the meeting", `window.huddle.state.notices.some((n) => n.endsWith('has ended.'))`, browserWait)
	bob.waitJS("the call closed and no LIVE badge", `document.querySelector('#meeting').hidden && !document.querySelector('.room-item[data-room="ops"] .live')`, browserWait)
	alice.do(chromedp.Evaluate[chromedp.Void](`window.huddle.client._pageShown()`))
	alice.waitJS("the end of the meeting", `window.huddle.state.notices.some((n) => n.endsWith('has ended.'))`, browserWait)
	alice.waitJS("the call closed and no LIVE badge", `document.querySelector('#meeting').hidden && !document.querySelector('.room-item[data-room="ops"] .live')`, browserWait)
	t.Logf("notices: alice %q, bob %q", eval[[]string](alice, `window.huddle.state.notices.slice(-1)`), eval[[]string](bob, `window.huddle.state.notices.slice(-1)`))
	is.Equal(eval[int](alice, `window.huddle.state.peerConnections().length`), 0) // no connection left open
	is.Equal(eval[int](bob, `window.huddle.state.peerConnections().length`), 0)
}
