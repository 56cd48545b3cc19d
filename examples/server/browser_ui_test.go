package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/matryer/is"
)

// TestBrowserPresenceAndRooms: what a chat user sees of others and of rooms, without a call.
// A page left for another site goes offline once the resume window passes and comes back
// online on Back; two non-Latin names are two users; an idle user turns away and back;
// links are links, days are separated, drafts stay per room, rooms can be found and left;
// a sign-in complaint does not outlive the sign-in.
func TestBrowserPresenceAndRooms(t *testing.T) {
	is := is.New(t)
	const resumeWindow = 2 * time.Second
	ts := startServer(t, "-dev-auth", "-resume-window", resumeWindow.String())
	b := newBrowser(t)
	alice, bob := b.newPage("alice"), b.newPage("bob")
	alice.signIn(ts.URL, "Alice")

	// Bob first submits an empty name: the form says so, and the complaint goes once he is in.
	bob.do(chromedp.Navigate(ts.URL), chromedp.WaitVisible(chromedp.CSS("#signin-name")), chromedp.Click(chromedp.CSS("#signin-submit")))
	bob.waitJS("the empty-name toast", `!document.querySelector('#toast').hidden`, browserWait)
	is.Equal(bob.errorShown(), "bad_request") // the form refused an empty name
	bob.do(chromedp.SendKeys(chromedp.CSS("#signin-name"), "Bob"), chromedp.Click(chromedp.CSS("#signin-submit")))
	bob.waitJS("signed-in ready state", `document.body.dataset.state === 'ready'`, browserWait)
	is.Equal(eval[bool](bob, `document.querySelector('#toast').hidden`), true) // the validation toast is gone after sign-in

	alice.joinRoom("lobby")
	bob.joinRoom("lobby")
	alice.waitMember("bob", "online")

	// Two people with non-Latin names stay two users. 李 also goes away when idle.
	li, wang := b.newPage("li"), b.newPage("wang")
	li.signIn(ts.URL+"/?idle=1500", "李")
	wang.signIn(ts.URL, "王")
	li.joinRoom("lobby")
	wang.joinRoom("lobby")
	alice.waitJS("李 and 王 listed", `['李', '王'].every((n) => [...document.querySelectorAll('#members .member')].some((m) => m.querySelector('.member-name').textContent === n))`, browserWait)
	ids := eval[[]string](alice, `[...document.querySelectorAll('#members .member')].filter((m) => ['李', '王'].includes(m.querySelector('.member-name').textContent)).map((m) => m.dataset.user)`)
	is.Equal(len(ids), 2)     // one entry each
	is.True(ids[0] != ids[1]) // under two user ids
	is.Equal(eval[string](li, `window.huddle.state.user.username`), "李")
	is.True(eval[string](li, `window.huddle.state.user.id`) != eval[string](wang, `window.huddle.state.user.id`)) // the server agrees

	// Away after the idle time (1.5 s for 李's page), online again on input.
	liID := eval[string](li, `window.huddle.state.user.id`)
	alice.waitMember(liID, "away")
	is.Equal(eval[string](li, `window.huddle.state.myStatus`), "away") // 李's page knows it is away
	li.do(chromedp.Click(chromedp.CSS("#message-input")))
	alice.waitMember(liID, "online")
	wang.do(chromedp.Navigate("about:blank")) // 王 leaves for good: one page fewer to run
	li.do(chromedp.Navigate("about:blank"))

	// Chat basics: a link is clickable, today's messages sit under a "Today" separator.
	alice.send("Notes are at https://example.com/notes?id=1.")
	bob.waitMessage("Notes are at https://example.com/notes?id=1.")
	href := eval[string](bob, `[...document.querySelectorAll('#messages .message .content a')].map((a) => a.getAttribute('href')).pop() ?? ''`)
	is.Equal(href, "https://example.com/notes?id=1") // the URL, without the sentence's full stop
	is.Equal(eval[string](bob, `document.querySelector('#messages .message .content a').rel`), "noopener noreferrer")
	is.Equal(eval[string](bob, `document.querySelector('#messages .day-separator')?.textContent ?? ''`), "Today")

	// Per-room drafts, finding a room, leaving a room.
	alice.do(chromedp.SendKeys(chromedp.CSS("#message-input"), "half a thought"))
	alice.joinRoom("design")
	is.Equal(eval[string](alice, `document.querySelector('#message-input').value`), "") // design's composer is empty
	alice.do(chromedp.SendKeys(chromedp.CSS("#message-input"), "design idea"))
	alice.do(chromedp.SendKeys(chromedp.CSS("#room-input"), "lob"))
	alice.waitJS("the room list filtered", `[...document.querySelectorAll('#rooms .room-item')].map((b) => b.dataset.room).join() === 'lobby'`, browserWait)
	alice.do(chromedp.SendKeys(chromedp.CSS("#room-input"), "\r"))
	alice.waitJS("lobby open again", `window.huddle.state.room === 'lobby'`, browserWait)
	is.Equal(eval[string](alice, `document.querySelector('#message-input').value`), "half a thought") // lobby's draft came back
	alice.do(chromedp.Click(chromedp.CSS(`.room-item[data-room="design"]`)))
	alice.waitJS("design open", `window.huddle.state.room === 'design'`, browserWait)
	is.Equal(eval[string](alice, `document.querySelector('#message-input').value`), "design idea") // and design's
	alice.do(chromedp.Click(chromedp.CSS("#leave-room")))
	alice.waitJS("design gone from the rooms", `!document.querySelector('.room-item[data-room="design"]') && window.huddle.state.room === null`, browserWait)
	rooms := eval[[]string](alice, `window.huddle.client.request('get_rooms', {}, { reply: 'rooms' }).then((d) => d.rooms.map((r) => r.id ?? r))`)
	is.Equal(strings.Join(rooms, ","), "lobby") // the server agrees: Alice left design
	alice.do(chromedp.Click(chromedp.CSS(`.room-item[data-room="lobby"]`)))

	// Bob leaves for another site: his page may sit in the back/forward cache, but its socket
	// is closed, so Alice sees him offline once the resume window passes.
	left := time.Now()
	bob.do(chromedp.Navigate("about:blank"))
	alice.waitMember("bob", "offline")
	t.Logf("Bob offline %v after he left (resume window %v)", time.Since(left).Round(100*time.Millisecond), resumeWindow)
	// (history.back, not chromedp.NavigateBack: a page restored from the cache fires no load.
	// It runs after the Evaluate has returned: a navigation during the call fails it with
	// "Inspected target navigated or closed", seen once in CI.)
	bob.do(chromedp.Evaluate[chromedp.Void](`setTimeout(() => history.back(), 0)`))
	alice.waitMember("bob", "online")
	bob.waitJS("ready again", `document.body.dataset.state === 'ready'`, browserWait)
	restored := eval[bool](bob, `window.__huddleTest?.restored === true`)
	t.Logf("Bob's page restored from the back/forward cache: %v", restored)
	is.True(restored) // the page really came back from the cache (else this test shows nothing)
	// chromedp's DOM tracking does not follow a cache restore: act through script.
	bob.do(chromedp.Evaluate[chromedp.Void](`document.querySelector('#message-input').value = "I'm back"; document.querySelector('#message-send').click()`))
	alice.waitMessage("I'm back")
	is.Equal(alice.errorShown(), "") // Alice saw no error all along
}

// remoteTileCheck tells whether user's tile on this page shows the name and a badge in front
// of everything else (not hidden under a camera-off cover).
func (p *page) tileLabelVisible(user string) bool {
	p.t.Helper()
	return eval[bool](p, fmt.Sprintf(`(() => {
		const tile = document.querySelector('#remote-videos .tile[data-user=%q]');
		const name = tile?.querySelector('.label .name');
		if (!name || !name.textContent) return false;
		const r = name.getBoundingClientRect();
		const top = document.elementFromPoint(r.left + Math.min(4, r.width / 2), r.top + r.height / 2);
		return r.width > 0 && !!top && tile.querySelector('.label').contains(top);
	})()`, user))
}

// TestBrowserCallUI: what people in a call see of each other. A single tile fits with its
// label; the invitation can be dismissed and brought back, and Start meeting is off while a
// meeting runs; joins and leaves are announced and counted; a camera-off tile keeps the name
// and the MUTED badge; a host's Leave is explained to the guest; the link can be copied; the
// page reads at 360 px.
func TestBrowserCallUI(t *testing.T) {
	is := is.New(t)
	ts := startServer(t, "-dev-auth")
	b := newBrowser(t)
	alice, bob := b.newPage("alice"), b.newPage("bob")
	alice.signIn(ts.URL, "Alice")
	bob.signIn(ts.URL, "Bob")
	alice.joinRoom("standup")
	bob.joinRoom("standup")
	alice.startMeeting()

	// Alone in the call: her own tile, "You" label included, is inside the stage.
	alice.waitJS("the local preview playing", `document.querySelector('#local-video').videoWidth > 0`, browserWait)
	fits := eval[bool](alice, `(() => {
		const grid = document.querySelector('#video-grid').getBoundingClientRect();
		const label = document.querySelector('.tile.local .label').getBoundingClientRect();
		return label.height > 0 && label.top >= grid.top && label.bottom <= grid.bottom && label.left >= grid.left && label.right <= grid.right
			&& label.bottom <= window.innerHeight;
	})()`)
	is.True(fits) // the single tile is not clipped
	chatH := eval[float64](alice, `document.querySelector('#messages').getBoundingClientRect().height`)
	is.True(chatH >= 300) // the chat keeps room to read beside the call (1280x800)

	// Bob is invited; Start meeting is off for him while the meeting runs.
	bob.do(chromedp.WaitVisible(chromedp.CSS("#invitation")))
	is.Equal(eval[bool](bob, `document.querySelector('#start-meeting').disabled`), true) // no conflicting start
	is.Equal(eval[bool](bob, `!document.querySelector('#join-live').hidden`), true)      // a Join button instead
	bob.do(chromedp.Click(chromedp.CSS("#invitation-dismiss")))
	bob.waitJS("the invitation dismissed", `document.querySelector('#invitation').hidden`, browserWait)
	is.Equal(eval[bool](bob, `!!document.querySelector('.room-item[data-room="standup"] .live')`), true) // the LIVE badge stays
	bob.do(chromedp.Click(chromedp.CSS(`.room-item[data-room="standup"]`)))
	bob.waitJS("the invitation back", `!document.querySelector('#invitation').hidden`, browserWait)
	bob.do(chromedp.Click(chromedp.CSS("#invitation-join")))
	bob.waitInCall()
	alice.waitVideoFrom("bob")
	bob.waitVideoFrom("alice")

	// Joins are announced and counted.
	alice.waitNotice("Bob joined the call.")
	for _, p := range []*page{alice, bob} {
		p.waitJS("2 in call", `document.querySelector('#participant-count').textContent === '2 in call'
			&& document.querySelectorAll('#participants .participant').length === 2`, browserWait)
	}

	// Bob turns his camera off and mutes: Alice's tile of him keeps his name and the badge.
	bob.do(chromedp.Click(chromedp.CSS("#toggle-cam")), chromedp.Click(chromedp.CSS("#toggle-mic")))
	alice.waitJS("Bob's tile camera-off and muted", `(() => {
		const t = document.querySelector('#remote-videos .tile[data-user="bob"]');
		return t?.dataset.video === 'false' && t.dataset.audio === 'false';
	})()`, browserWait)
	is.True(alice.tileLabelVisible("bob")) // the name is in front, not under a cover
	badges := eval[string](alice, `document.querySelector('#remote-videos .tile[data-user="bob"] .badges').innerText`)
	is.True(strings.Contains(badges, "MUTED")) // the badge shows, in capitals
	is.Equal(eval[string](alice, `document.querySelector('#remote-videos .tile[data-user="bob"] .label .name').textContent`), "Bob")
	alice.shot("call-camera-off")

	// Every control has a name a screen reader can say.
	unnamed := eval[[]string](alice, `[...document.querySelectorAll('button, input, select, textarea, [role=log]')]
		.filter((el) => el.getClientRects().length > 0)
		.filter((el) => !(el.getAttribute('aria-label') || el.labels?.[0]?.textContent.trim() || el.textContent.trim()
			|| el.getAttribute('aria-labelledby') || el.title))
		.map((el) => el.outerHTML.slice(0, 80))`)
	is.Equal(len(unnamed), 0) // no unnamed control

	// The microphone picker switches the track every peer receives.
	if eval[int](alice, `document.querySelectorAll('#mic-select option').length`) >= 2 {
		before := eval[string](alice, `window.huddle.client.mesh.audioTrack.getSettings().deviceId`)
		alice.do(chromedp.Evaluate[chromedp.Void](`(() => { const s = document.querySelector('#mic-select');
			s.value = [...s.options].find((o) => o.value !== s.value).value; s.dispatchEvent(new Event('change')); })()`))
		alice.waitJS("the other microphone in use", fmt.Sprintf(`window.huddle.client.mesh.audioTrack.getSettings().deviceId !== %q
			&& window.huddle.state.peerConnections()[0].getSenders().some((s) => s.track === window.huddle.client.mesh.audioTrack)`, before), browserWait)
		is.Equal(eval[bool](bob, `__huddleTest.inbound('audio').then((s) => s.packets > 0)`), true) // Bob still receives audio
	} else {
		t.Log("one microphone only: the picker is not exercised")
	}

	// Copy link gives the meeting's address.
	alice.do(chromedp.Click(chromedp.CSS("#copy-link")))
	alice.waitJS("the link copied", `window.huddle.state.copiedLink !== null`, browserWait)
	is.True(strings.HasSuffix(eval[string](alice, `window.huddle.state.copiedLink`), "/?meeting=standup"))

	// Bob leaves: Alice is told. He comes back through the header's Join button.
	bob.do(chromedp.Click(chromedp.CSS("#leave-meeting")))
	alice.waitNotice("Bob left the call.")
	alice.waitJS("1 in call", `document.querySelector('#participant-count').textContent === '1 in call'`, browserWait)
	bob.do(chromedp.WaitVisible(chromedp.CSS("#join-live")), chromedp.Click(chromedp.CSS("#join-live")))
	bob.waitInCall()
	alice.waitVideoFrom("bob")
	bob.waitVideoFrom("alice")
	is.Equal(eval[string](bob, `document.querySelector('#room-count').textContent`), "2 members")

	// At 360 px wide the page still reads: no sideways scrolling, the composer in view.
	bob.do(chromedp.EmulateViewport(360, 740))
	bob.waitJS("a 360 px layout", `window.innerWidth === 360`, browserWait)
	is.True(eval[bool](bob, `document.documentElement.scrollWidth <= 360`)) // nothing sticks out sideways
	is.True(eval[bool](bob, `(() => { const r = document.querySelector('#message-input').getBoundingClientRect(); return r.width > 150 && r.bottom <= window.innerHeight; })()`))
	is.True(eval[bool](bob, `(() => { const r = document.querySelector('#leave-meeting').getBoundingClientRect(); return r.right <= 360 && r.bottom <= window.innerHeight; })()`))
	bob.do(chromedp.Evaluate[chromedp.Void](`document.querySelector('#notice').hidden = true`)) // a transient notice, not for the picture
	bob.shot("call-360", "call-mobile")

	// "End for all" by keyboard: Enter opens the confirmation, Escape cancels it, nothing ends.
	alice.do(chromedp.Focus(chromedp.CSS("#stop-meeting")), chromedp.KeyEvent("\r"))
	alice.waitJS("the End confirmation", `document.querySelector('#confirm-end').open`, browserWait)
	is.Equal(eval[string](alice, `document.activeElement.id`), "confirm-end-cancel") // focus on the safe choice
	alice.do(chromedp.KeyEvent(kb.Escape))
	alice.waitJS("the confirmation closed", `!document.querySelector('#confirm-end').open`, browserWait)
	is.Equal(eval[string](alice, `document.activeElement.id`), "stop-meeting")                   // focus back where it was
	is.Equal(eval[string](alice, `document.querySelector('#meeting').dataset.state`), "in-call") // nothing ended

	// The host leaves (not End): the meeting goes on, and Bob's page says so.
	alice.do(chromedp.Click(chromedp.CSS("#leave-meeting")))
	bob.waitNotice("Alice (the host) left; the meeting continues.")
	is.Equal(eval[string](bob, `document.querySelector('#meeting').dataset.state`), "in-call") // Bob is still in the call
	is.Equal(alice.errorShown(), "")
	is.Equal(bob.errorShown(), "")
}

// waitNotice waits until the page has shown a notice with this text.
func (p *page) waitNotice(text string) {
	p.t.Helper()
	p.waitJS(fmt.Sprintf("notice %q", text), fmt.Sprintf(`window.huddle.state.notices.includes(%q)`, text), browserWait)
}

// TestBrowserMeshOfFour: four people in one meeting. Every page plays the three others'
// video, and each outgoing video copy is capped for a 3-peer mesh (videoCap in
// client/src/meeting/caps.ts); when one leaves, the caps of the others grow back.
func TestBrowserMeshOfFour(t *testing.T) {
	is := is.New(t)
	ts := startServer(t, "-dev-auth")
	b := newBrowser(t)
	names := []string{"Alice", "Bob", "Carol", "Dave"}
	pages := make([]*page, len(names))
	for i, n := range names {
		pages[i] = b.newPage(strings.ToLower(n))
		pages[i].signIn(ts.URL, n)
		pages[i].joinRoom("all-hands")
	}
	pages[0].startMeeting()
	for _, p := range pages[1:] {
		p.do(chromedp.WaitVisible(chromedp.CSS("#invitation")), chromedp.Click(chromedp.CSS("#invitation-join")))
		p.waitInCall()
	}
	for i, p := range pages {
		p.waitJS("3 playing remote videos", `[...document.querySelectorAll('#remote-videos video.remote-video')]
			.filter((v) => v.videoWidth > 0 && !v.paused && v.readyState >= 2).length === 3`, 2*browserWait)
		base := eval[map[string]float64](p, `__huddleTest.framesPerPeer()`)
		is.Equal(len(base), 3) // one connection per other participant
		p.waitJS("frames from all three growing", fmt.Sprintf(`__huddleTest.framesPerPeer().then((now) => {
			const base = %s;
			return Object.keys(base).length === 3 && Object.keys(base).every((id) => now[id] > base[id]);
		})`, mustJSON(t, base)), browserWait)
		p.waitJS("video caps for three peers", `(() => { const c = window.huddle.state.videoCaps(); return c.length === 3 && c.every((x) => x?.maxBitrate === 600000); })()`, browserWait)
		for _, c := range eval[[]videoCapState](p, `window.huddle.state.videoCaps()`) {
			is.Equal(c.MaxBitrate, 600_000) // each of the 3 copies: 600 kbit/s, 1.8 Mbit/s in all
			is.True(c.Scale >= 1)           // never upscaled
		}
		is.Equal(eval[string](p, `document.querySelector('#participant-count').textContent`), "4 in call")
		conns := eval[[]string](p, `[...document.querySelectorAll('#remote-videos .tile')].map((t) => t.dataset.conn)`)
		is.Equal(conns, []string{"connected", "connected", "connected"}) // each tile shows its peer connection's state
		t.Logf("%s: 3 remote videos playing, caps set", names[i])
	}
	// The fake microphones beep: someone's tile lights up as the active speaker.
	pages[0].waitJS("an active-speaker highlight", `!!document.querySelector('#remote-videos .tile.speaking')`, browserWait)
	pages[0].shot("call-four", "call-four")

	// Dave leaves: the three others re-budget for two peers.
	pages[3].do(chromedp.Click(chromedp.CSS("#leave-meeting")))
	for _, p := range pages[:3] {
		p.waitJS("video caps for two peers", `(() => { const c = window.huddle.state.videoCaps(); return c.length === 2 && c.every((x) => x?.maxBitrate === 1000000); })()`, browserWait)
	}
	for _, p := range pages {
		is.Equal(p.errorShown(), "") // nobody saw an error
	}
}

type videoCapState struct {
	MaxBitrate int     `json:"maxBitrate"`
	Scale      float64 `json:"scale"`
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
