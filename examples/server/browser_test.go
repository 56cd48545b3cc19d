package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/matryer/is"
)

// The browser tests run the embedded web client in headless Chromium against examples/server
// started in-process with dev auth. See browser_helpers_test.go for the browser set-up.

// TestBrowserChatAndCall: two people chat, see each other type and come online, meet, share a
// screen, and the host ends the meeting for both.
func TestBrowserChatAndCall(t *testing.T) {
	is := is.New(t)
	ts := startServer(t, "-dev-auth")
	b := newBrowser(t)
	alice, bob := b.newPage("alice"), b.newPage("bob")
	alice.signIn(ts.URL, "Alice")
	bob.signIn(ts.URL, "Bob")
	alice.joinRoom("lobby")
	bob.joinRoom("lobby")
	// Alice sees Bob in the room as soon as he joins, before he says anything (member_joined).
	alice.waitMember("bob", "online")

	// Chat both ways.
	alice.send("Hi Bob, welcome to the lobby!")
	bob.waitMessage("Hi Bob, welcome to the lobby!")
	is.Equal(bob.senderOf("Hi Bob, welcome to the lobby!"), "Alice") // Bob sees Alice's message under her name

	// Typing: Bob sees Alice type, and the indicator goes when her message arrives.
	alice.do(chromedp.SendKeys(chromedp.CSS("#message-input"), "Shall we have a quick call"))
	bob.waitJS("Alice's typing indicator", `document.querySelector('#typing').textContent.includes('Alice')`, browserWait)
	typing := eval[string](bob, `document.querySelector('#typing').textContent`)
	is.True(strings.Contains(typing, "Alice is typing")) // the indicator names who types
	alice.do(chromedp.SendKeys(chromedp.CSS("#message-input"), " about the release?"), chromedp.Click(chromedp.CSS("#message-send")))
	bob.waitMessage("Shall we have a quick call about the release?")
	bob.waitJS("the typing indicator to clear", `document.querySelector('#typing').textContent === ''`, browserWait)

	bob.send("Sure, start one and I'll join.")
	alice.waitMessage("Sure, start one and I'll join.")
	is.Equal(alice.senderOf("Sure, start one and I'll join."), "Bob")                                     // Alice sees Bob's reply under his name
	is.Equal(eval[int](alice, `document.querySelectorAll('#messages .message.mine[data-id]').length`), 2) // her own two, acknowledged

	// Presence: each sees the other online.
	alice.waitMember("bob", "online")
	bob.waitMember("alice", "online")
	is.Equal(alice.memberStatus("bob"), "online") // Alice sees Bob online
	is.Equal(bob.memberStatus("alice"), "online") // Bob sees Alice online

	// The chat view, with Bob typing.
	bob.do(chromedp.SendKeys(chromedp.CSS("#message-input"), "Joining"))
	alice.waitJS("Bob's typing indicator", `document.querySelector('#typing').textContent.includes('Bob')`, browserWait)
	alice.shot("chat", "chat")
	bob.do(chromedp.SendKeys(chromedp.CSS("#message-input"), " now"), chromedp.Click(chromedp.CSS("#message-send")))
	alice.waitMessage("Joining now")

	// A meeting: Alice starts, Bob joins from the invitation, video flows both ways.
	alice.startMeeting()
	bob.do(chromedp.WaitVisible(chromedp.CSS("#invitation")))
	invitation := eval[string](bob, `document.querySelector('#invitation-text').textContent`)
	is.True(strings.Contains(invitation, "Alice")) // the banner says who invites
	bob.do(chromedp.Click(chromedp.CSS("#invitation-join")))
	bob.waitInCall()
	alice.waitVideoFrom("bob")
	bob.waitVideoFrom("alice")
	is.Equal(eval[bool](alice, `!document.querySelector('#stop-meeting').hidden`), true) // the host can end it for all
	is.Equal(eval[bool](bob, `document.querySelector('#stop-meeting').hidden`), true)    // a guest cannot
	alice.shot("call", "call")

	// Screen sharing swaps the outgoing video track; Bob keeps receiving frames.
	before := eval[senderTrack](alice, `__huddleTest.videoSenderTrack()`)
	is.True(before.ID != "") // Alice sends her camera
	alice.do(chromedp.Click(chromedp.CSS("#toggle-screen")))
	alice.waitJS("screen sharing on", `window.huddle.client.mesh.screenTrack?.readyState === 'live'
		&& document.querySelector('#toggle-screen').dataset.on === 'true'`, browserWait)
	alice.waitJS("the video sender's track to change", fmt.Sprintf(`__huddleTest.videoSenderTrack()?.id !== %q`, before.ID), browserWait)
	after := eval[senderTrack](alice, `__huddleTest.videoSenderTrack()`)
	is.True(after.ID != before.ID)                    // the sender carries another track
	is.True(strings.HasPrefix(after.Label, "screen")) // the screen capture (headless Chromium names it screen:…)
	is.Equal(after.State, "live")                     // and it is live
	bob.waitJS("Alice's tile marked as a screen", `!!document.querySelector('#remote-videos .tile[data-user="alice"][data-screen="true"]')`, browserWait)
	bob.waitFramesGrow("Alice's screen")
	bob.shot("call-screen")

	// The host ends the meeting for everyone: both leave the call and release everything.
	alice.do(chromedp.Click(chromedp.CSS("#stop-meeting")))
	alice.do(chromedp.WaitVisible(chromedp.CSS("#confirm-end")))                                 // "End for all" asks first
	is.Equal(eval[string](alice, `document.querySelector('#meeting').dataset.state`), "in-call") // nothing ended yet
	alice.do(chromedp.Click(chromedp.CSS("#confirm-end-ok")))
	for _, p := range []*page{alice, bob} {
		p.waitJS("meeting view idle", `document.querySelector('#meeting').dataset.state === 'idle' && document.querySelector('#meeting').hidden`, browserWait)
		p.waitJS("every local track stopped", `window.huddle.state.localTracks().every((t) => t.readyState === 'ended')`, browserWait)
		tracks := eval[[]string](p, `window.huddle.state.localTracks().map((t) => t.kind + ':' + t.readyState)`)
		is.True(len(tracks) >= 2) // camera and microphone (and the screen, for Alice) were tracked
		for _, tr := range tracks {
			is.True(strings.HasSuffix(tr, ":ended")) // every local track is stopped: no camera light left on
		}
		is.Equal(eval[int](p, `window.huddle.state.peerConnections().length`), 0) // the client keeps no connection
		is.Equal(eval[int](p, `__huddleTest.openPCs()`), 0)                       // and none the page made is still open
	}
	bob.waitJS("the invitation revoked", `document.querySelector('#invitation').hidden`, browserWait)
	is.Equal(alice.errorShown(), "") // Alice saw no error all along
	is.Equal(bob.errorShown(), "")   // nor did Bob
}

// TestBrowserWithPionBot: a browser hosts, a headless Pion peer joins over loopback, and media
// flows both ways.
func TestBrowserWithPionBot(t *testing.T) {
	is := is.New(t)
	ts := startServer(t, "-dev-auth", "-participant-grace", "10s")
	b := newBrowser(t)
	alice := b.newPage("alice")
	alice.signIn(ts.URL, "Alice")
	alice.joinRoom("bots")
	alice.startMeeting()

	bot := dialPeer(t, ts, "bot") // loopback-only ICE: needs Chromium's 127.0.0.1 candidate
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := bot.Join(ctx, "bots")
	is.NoErr(err)                          // the bot joins the browser's meeting
	is.NoErr(bot.WaitRTP(ctx, "alice", 5)) // the bot receives the browser's RTP
	is.True(bot.RTPPackets("alice") >= 5)  // (counted per remote user)
	remote, ok := bot.Remote("alice")
	is.True(ok)                     // the bot has a connection to Alice
	is.Equal(remote.Offerer, false) // the browser (who heard of the join) offered
	alice.waitJS("the bot's audio", `__huddleTest.inbound('audio').then((s) => s.packets > 0)`, browserWait)
	audio := eval[inboundStats](alice, `__huddleTest.inbound('audio')`)
	is.True(audio.Packets > 0) // the browser receives the bot's audio
	t.Logf("browser ICE pair: %s", eval[string](alice, `__huddleTest.selectedPair()`))
	alice.waitJS("a tile for the bot", `!!__huddleTest.remoteVideo('bot')`, browserWait)
	alice.waitJS("the bot's tile connected", `document.querySelector('#remote-videos .tile[data-user="bot"]')?.dataset.conn === 'connected'`, browserWait)
	is.NoErr(bot.Leave(ctx)) // a clean exit
	alice.waitJS("the bot's tile removed", `!__huddleTest.remoteVideo('bot')`, browserWait)

	// A second bot vanishes without a word (process gone: no leave, media stops): its tile says
	// "Reconnecting…" while the browser's connection to it is down, and goes when the
	// participant grace (10 s here) ends its place in the meeting.
	crash := dialPeer(t, ts, "crash")
	_, err = crash.Join(ctx, "bots")
	is.NoErr(err)
	is.NoErr(crash.WaitRTP(ctx, "alice", 5))
	alice.waitJS("the crash bot's tile connected", `document.querySelector('#remote-videos .tile[data-user="crash"]')?.dataset.conn === 'connected'`, browserWait)
	is.NoErr(crash.Close())
	alice.waitJS("a reconnecting tile", `(() => { const t = document.querySelector('#remote-videos .tile[data-user="crash"]');
		return t && ['disconnected', 'failed', 'connecting'].includes(t.dataset.conn) && t.querySelector('.conn-state').textContent.endsWith('…'); })()`, browserWait)
	t.Logf("crash bot tile: %s", eval[string](alice, `(() => { const t = document.querySelector('#remote-videos .tile[data-user="crash"]'); return t ? t.dataset.conn + ' ' + t.querySelector('.conn-state').textContent : 'gone'; })()`))
	alice.waitNotice("crash left the call.")
	alice.waitJS("the crash bot's tile removed", `!document.querySelector('#remote-videos .tile[data-user="crash"]')`, browserWait)
	is.Equal(alice.errorShown(), "") // the browser showed no error
}

// TestBrowserReloadDuringCall: a guest reloads mid-call; the page resumes its session and
// rejoins, the host never sees it leave, and media flows again both ways.
func TestBrowserReloadDuringCall(t *testing.T) {
	is := is.New(t)
	ts := startServer(t, "-dev-auth")
	b := newBrowser(t)
	alice, bob := b.newPage("alice"), b.newPage("bob")
	alice.signIn(ts.URL, "Alice")
	bob.signIn(ts.URL, "Bob")
	alice.joinRoom("standup")
	bob.joinRoom("standup")
	alice.startMeeting()
	bob.do(chromedp.WaitVisible(chromedp.CSS("#invitation")), chromedp.Click(chromedp.CSS("#invitation-join")))
	bob.waitInCall()
	alice.waitVideoFrom("bob")
	bob.waitVideoFrom("alice")

	alice.do(chromedp.Evaluate[chromedp.Void](`__huddleTest.markOld()`)) // count only connections made after the reload
	bob.do(chromedp.Reload())
	bob.waitJS("ready after the reload", `document.body.dataset.state === 'ready'`, browserWait)
	sessions := bob.events("session")
	is.True(len(sessions) > 0 && sessions[0].Resumed) // the reloaded page resumed its session (sessionStorage token)
	bob.waitInCall()
	bob.waitVideoFrom("alice")
	alice.waitJS("a new connection to Bob", `window.huddle.state.peerConnections().some((pc) => !pc.__old && pc.connectionState === 'connected')`, browserWait)
	alice.waitVideoFrom("bob")

	joins := 0
	for _, e := range alice.events("meeting_user_joined") {
		if e.User == "bob" {
			joins++
		}
	}
	is.True(joins >= 2)                                 // the recorder saw Bob join, then rejoin after the reload
	is.Equal(len(alice.events("meeting_user_left")), 0) // but Alice never saw Bob leave the meeting
	for _, e := range alice.events("presence") {
		is.True(e.User != "bob" || e.Status == "online") // nor go offline
	}
	is.Equal(eval[string](alice, `document.querySelector('#meeting').dataset.state`), "in-call") // Alice stayed in the call
	is.Equal(alice.errorShown(), "")                                                             // and saw no error
	is.Equal(bob.errorShown(), "")                                                               // nor did Bob's reloaded page
	t.Logf("alice saw %d remote_left (connection replaced) during the reload; bob's sound hint shown: %v",
		len(alice.events("remote_left")), eval[bool](bob, `!document.querySelector('#sound-hint').hidden`))
}

// senderTrack is __huddleTest.videoSenderTrack(): the track on the first video sender.
type senderTrack struct {
	ID    string `json:"id"`
	Label string `json:"label"`
	State string `json:"state"`
}

// send types a message and sends it.
func (p *page) send(text string) {
	p.t.Helper()
	p.do(chromedp.SendKeys(chromedp.CSS("#message-input"), text), chromedp.Click(chromedp.CSS("#message-send")))
}

// waitMessage waits for an acknowledged message (it has a server id) with this content.
func (p *page) waitMessage(content string) {
	p.t.Helper()
	p.waitJS(fmt.Sprintf("message %q", content), fmt.Sprintf(`[...document.querySelectorAll('#messages .message[data-id]')]
		.some((m) => m.querySelector('.content')?.textContent === %q)`, content), browserWait)
}

// senderOf returns the sender shown on the message with this content.
func (p *page) senderOf(content string) string {
	p.t.Helper()
	return eval[string](p, fmt.Sprintf(`[...document.querySelectorAll('#messages .message[data-id]')]
		.find((m) => m.querySelector('.content')?.textContent === %q)?.querySelector('.sender')?.textContent ?? ''`, content))
}

func (p *page) waitMember(user, status string) {
	p.t.Helper()
	p.waitJS(fmt.Sprintf("member %s %s", user, status), fmt.Sprintf(`!!document.querySelector('#members .member[data-user=%q][data-status=%q]')`, user, status), browserWait)
}

func (p *page) memberStatus(user string) string {
	p.t.Helper()
	return eval[string](p, fmt.Sprintf(`document.querySelector('#members .member[data-user=%q]')?.dataset.status ?? ''`, user))
}

// startMeeting starts a meeting in the open room and waits for the call view.
func (p *page) startMeeting() {
	p.t.Helper()
	p.do(chromedp.WaitEnabled(chromedp.CSS("#start-meeting")), chromedp.Click(chromedp.CSS("#start-meeting")))
	p.waitInCall()
}
