package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/coder/websocket"
	"github.com/matryer/is"
)

// Firefox is driven through WebDriver BiDi, which Firefox speaks itself
// (--remote-debugging-port): a WebSocket of JSON commands, spoken here with the WebSocket
// library the project already uses, so no geckodriver, npm or Selenium is needed. Fake media
// comes from profile prefs (user.js): media.navigator.streams.fake gives a synthetic camera
// and microphone, media.navigator.permission.disabled skips the prompt.

const firefoxHint = "install Debian's firefox-esr: apt-get install firefox-esr (or set HUDDLE_REQUIRE_BROWSER=1 to fail instead of skipping)"

// firefoxPrefs go into the test profile's user.js.
var firefoxPrefs = map[string]any{
	"media.navigator.streams.fake":                      true,
	"media.navigator.permission.disabled":               true,
	"media.autoplay.default":                            0, // allow audible autoplay: no user gesture in tests
	"media.autoplay.blocking_policy":                    0,
	"media.peerconnection.ice.obfuscate_host_addresses": false, // real host candidates, not mDNS names
	"media.peerconnection.ice.loopback":                 true,  // also gather 127.0.0.1
	"browser.shell.checkDefaultBrowser":                 false,
	"browser.startup.homepage_override.mstone":          "ignore",
	"browser.aboutwelcome.enabled":                      false,
	"datareporting.policy.dataSubmissionEnabled":        false,
	"toolkit.telemetry.reportingpolicy.firstRun":        false,
	"app.update.disabledForTesting":                     true,
	"network.captive-portal-service.enabled":            false,
	"network.connectivity-service.enabled":              false,
	"browser.safebrowsing.malware.enabled":              false,
	"browser.safebrowsing.phishing.enabled":             false,
	"extensions.update.enabled":                         false,
	"messaging-system.rsexperimentloader.enabled":       false,
	"remote.prefs.recommended":                          true,
}

// firefoxPath finds Firefox ESR (HUDDLE_FIREFOX names another binary) or skips the test.
func firefoxPath(t *testing.T) string {
	t.Helper()
	names := []string{"firefox-esr", "firefox"}
	if env := os.Getenv("HUDDLE_FIREFOX"); env != "" {
		names = []string{env}
	}
	for _, name := range names {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("HUDDLE_REQUIRE_BROWSER") == "1" {
		t.Fatal("no Firefox found: " + firefoxHint)
	}
	t.Skip("no Firefox found: " + firefoxHint)
	return ""
}

// bidi is one WebDriver BiDi connection to a Firefox process, with one browsing context.
type bidi struct {
	t       *testing.T
	name    string
	conn    *websocket.Conn
	context string // the browsing context (tab) id

	mu      sync.Mutex
	next    int
	waiting map[int]chan bidiReply
	console []string
	done    chan struct{}
}

type bidiReply struct {
	Type    string          `json:"type"`
	ID      *int            `json:"id"`
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params"`
	Result  json.RawMessage `json:"result"`
	Error   string          `json:"error"`
	Message string          `json:"message"`
}

var bidiListening = regexp.MustCompile(`WebDriver BiDi listening on (ws://\S+)`)

// newFirefox starts headless Firefox on a fresh profile and opens a BiDi session with the test
// hooks preloaded in every document.
func newFirefox(t *testing.T, name string) *bidi {
	t.Helper()
	if testing.Short() {
		t.Skip("browser end-to-end")
	}
	path := firefoxPath(t)
	profile := t.TempDir()
	var prefs strings.Builder
	for k, v := range firefoxPrefs {
		val, _ := json.Marshal(v)
		fmt.Fprintf(&prefs, "user_pref(%q, %s);\n", k, val)
	}
	if err := os.WriteFile(filepath.Join(profile, "user.js"), []byte(prefs.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, path, "--headless", "--no-remote", "--profile", profile, "--remote-debugging-port", "0", "about:blank")
	cmd.Env = append(os.Environ(), "MOZ_CRASHREPORTER_DISABLE=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = nil
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start %s: %v", path, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cancel()
		<-exited
	})
	urls := make(chan string, 1)
	go func() { // reads stderr until Firefox exits; owner: the process
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := bidiListening.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case urls <- m[1]:
				default:
				}
			}
		}
	}()
	var url string
	select {
	case url = <-urls:
	case <-exited:
		t.Fatalf("%s exited before WebDriver BiDi listened", path)
	case <-time.After(60 * time.Second):
		t.Fatalf("%s: no WebDriver BiDi endpoint within 60s", path)
	}
	dctx, dcancel := context.WithTimeout(ctx, actionWait)
	conn, _, err := websocket.Dial(dctx, url+"/session", nil)
	dcancel()
	if err != nil {
		t.Fatalf("firefox: dial BiDi: %v", err)
	}
	conn.SetReadLimit(64 << 20)
	f := &bidi{t: t, name: name, conn: conn, waiting: map[int]chan bidiReply{}, done: make(chan struct{})}
	go f.read(ctx)
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("HUDDLE_BROWSER_CONSOLE") == "1" {
			f.mu.Lock()
			t.Logf("%s (firefox): console:\n  %s", name, strings.Join(f.console, "\n  "))
			f.mu.Unlock()
		}
		_ = conn.Close(websocket.StatusNormalClosure, "")
		<-f.done
	})
	f.call("session.new", map[string]any{"capabilities": map[string]any{}}, nil)
	f.call("session.subscribe", map[string]any{"events": []string{"log.entryAdded"}}, nil)
	var tree struct {
		Contexts []struct {
			Context string `json:"context"`
		} `json:"contexts"`
	}
	f.call("browsingContext.getTree", map[string]any{}, &tree)
	if len(tree.Contexts) == 0 {
		t.Fatal("firefox: no browsing context")
	}
	f.context = tree.Contexts[0].Context
	f.call("script.addPreloadScript", map[string]any{"functionDeclaration": "() => { " + testHooks + " }"}, nil)
	return f
}

// read dispatches replies to their callers and keeps console entries; it ends with the
// connection.
func (f *bidi) read(ctx context.Context) {
	defer close(f.done)
	for {
		_, data, err := f.conn.Read(ctx)
		if err != nil {
			f.mu.Lock()
			for id, ch := range f.waiting {
				ch <- bidiReply{Type: "error", Error: "closed", Message: err.Error()}
				delete(f.waiting, id)
			}
			f.mu.Unlock()
			return
		}
		var r bidiReply
		if json.Unmarshal(data, &r) != nil {
			continue
		}
		if r.Type == "event" {
			if r.Method == "log.entryAdded" {
				var e struct {
					Level     string  `json:"level"`
					Text      string  `json:"text"`
					Timestamp float64 `json:"timestamp"`
				}
				_ = json.Unmarshal(r.Params, &e)
				f.mu.Lock()
				f.console = append(f.console, fmt.Sprintf("%s %s: %s", time.UnixMilli(int64(e.Timestamp)).Format("15:04:05.000"), e.Level, e.Text))
				f.mu.Unlock()
			}
			continue
		}
		if r.ID == nil {
			continue
		}
		f.mu.Lock()
		ch := f.waiting[*r.ID]
		delete(f.waiting, *r.ID)
		f.mu.Unlock()
		if ch != nil {
			ch <- r
		}
	}
}

// send runs one BiDi command and decodes its result into out (when not nil).
func (f *bidi) send(method string, params any, out any, d time.Duration) error {
	f.mu.Lock()
	f.next++
	id := f.next
	ch := make(chan bidiReply, 1)
	f.waiting[id] = ch
	f.mu.Unlock()
	msg, err := json.Marshal(map[string]any{"id": id, "method": method, "params": params})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if err := f.conn.Write(ctx, websocket.MessageText, msg); err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	select {
	case r := <-ch:
		if r.Type == "error" {
			return fmt.Errorf("%s: %s: %s", method, r.Error, r.Message)
		}
		if out != nil {
			return json.Unmarshal(r.Result, out)
		}
		return nil
	case <-ctx.Done():
		f.mu.Lock()
		delete(f.waiting, id)
		f.mu.Unlock()
		return fmt.Errorf("%s: no reply within %v", method, d)
	}
}

func (f *bidi) call(method string, params any, out any) {
	f.t.Helper()
	if err := f.send(method, params, out, actionWait); err != nil {
		f.t.Fatalf("%s (firefox): %v", f.name, err)
	}
}

// shot writes a PNG of the tab's viewport to the artifacts folder, as page.shot does.
// Screenshots are best effort: a failure is logged, not fatal.
func (f *bidi) shot(name string) {
	f.t.Helper()
	var res struct {
		Data string `json:"data"`
	}
	if err := f.send("browsingContext.captureScreenshot", map[string]any{"context": f.context}, &res, actionWait); err != nil {
		f.t.Logf("%s: screenshot %s: %v", f.name, name, err)
		return
	}
	png, err := base64.StdEncoding.DecodeString(res.Data)
	if err != nil {
		f.t.Logf("%s: screenshot %s: %v", f.name, name, err)
		return
	}
	saveShot(f.t, f.name, name, png)
}

// evalJSON evaluates expr (awaiting a promise) and returns JSON.stringify of its value.
func (f *bidi) evalJSON(expr string) (string, error) {
	var res struct {
		Type   string `json:"type"`
		Result struct {
			Type  string `json:"type"`
			Value any    `json:"value"`
		} `json:"result"`
		ExceptionDetails struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	err := f.send("script.evaluate", map[string]any{
		"expression":   fmt.Sprintf("(async () => JSON.stringify(await (%s)))()", expr),
		"target":       map[string]any{"context": f.context},
		"awaitPromise": true,
	}, &res, actionWait)
	if err != nil {
		return "", err
	}
	if res.Type == "exception" {
		return "", errors.New(res.ExceptionDetails.Text)
	}
	s, _ := res.Result.Value.(string)
	return s, nil
}

// ffEval evaluates expr in the Firefox page and decodes the value into T.
func ffEval[T any](f *bidi, expr string) T {
	f.t.Helper()
	var v T
	s, err := f.evalJSON(expr)
	if err == nil {
		err = json.Unmarshal([]byte(s), &v)
	}
	if err != nil {
		f.t.Fatalf("%s (firefox): eval %s: %v", f.name, expr, err)
	}
	return v
}

// waitJS waits until expr is truthy, polling every 100 ms up to d.
func (f *bidi) waitJS(what, expr string, d time.Duration) {
	f.t.Helper()
	deadline := time.Now().Add(d)
	var last error
	for {
		s, err := f.evalJSON("!!(" + expr + ")")
		if err == nil && s == "true" {
			return
		}
		last = err
		if time.Now().After(deadline) {
			f.t.Fatalf("%s (firefox): no %s within %v (last error: %v)", f.name, what, d, last)
		}
		time.Sleep(100 * time.Millisecond) // poll interval, bounded by the deadline
	}
}

func (f *bidi) navigate(url string) {
	f.t.Helper()
	f.call("browsingContext.navigate", map[string]any{"context": f.context, "url": url, "wait": "complete"}, nil)
}

func (f *bidi) reload() {
	f.t.Helper()
	f.call("browsingContext.reload", map[string]any{"context": f.context, "wait": "complete"}, nil)
}

// run executes a statement in the page (a click, a form fill).
func (f *bidi) run(stmt string) {
	f.t.Helper()
	ffEval[any](f, "(() => { "+stmt+"; return null; })()")
}

// click clicks the centre of the element sel with a real (trusted) pointer, as a user would:
// some APIs (getDisplayMedia) need that user gesture.
func (f *bidi) click(sel string) {
	f.t.Helper()
	pos := ffEval[struct{ X, Y float64 }](f, fmt.Sprintf(`(() => { const r = document.querySelector(%q).getBoundingClientRect(); return { X: r.left + r.width / 2, Y: r.top + r.height / 2 }; })()`, sel))
	f.call("input.performActions", map[string]any{"context": f.context, "actions": []any{map[string]any{
		"type": "pointer", "id": "mouse", "parameters": map[string]any{"pointerType": "mouse"},
		"actions": []any{
			map[string]any{"type": "pointerMove", "x": int(pos.X), "y": int(pos.Y), "origin": "viewport"},
			map[string]any{"type": "pointerDown", "button": 0},
			map[string]any{"type": "pointerUp", "button": 0},
		},
	}}}, nil)
}

// signIn loads the app and signs in with a display name, as a user would, through the form.
func (f *bidi) signIn(url, name string) {
	f.t.Helper()
	f.navigate(url)
	f.waitJS("the sign-in form", `!document.querySelector('#name-field').hidden`, browserWait)
	f.run(fmt.Sprintf(`document.querySelector('#signin-name').value = %q; document.querySelector('#signin-submit').click()`, name))
	f.waitJS("signed-in ready state", `document.body.dataset.state === 'ready'`, browserWait)
}

func (f *bidi) joinRoom(room string) {
	f.t.Helper()
	f.run(fmt.Sprintf(`document.querySelector('#room-input').value = %q; document.querySelector('#room-join').click()`, room))
	f.waitJS("room "+room+" open", fmt.Sprintf(`window.huddle.state.room === %q && !document.querySelector('#message-input').disabled`, room), browserWait)
}

func (f *bidi) waitInCall() {
	f.t.Helper()
	f.waitJS("meeting view in-call", `document.querySelector('#meeting').dataset.state === 'in-call' && !document.querySelector('#meeting').hidden`, browserWait)
}

// waitVideoFrom waits until user's remote video has a size and its decoded frames grow.
func (f *bidi) waitVideoFrom(user string) {
	f.t.Helper()
	f.waitJS("a sized remote video from "+user, fmt.Sprintf(`(() => { const v = __huddleTest.remoteVideo(%q); return v && v.videoWidth > 0 && !v.paused; })()`, user), 2*browserWait)
	base := ffEval[inboundStats](f, `__huddleTest.inbound('video')`)
	f.waitJS(fmt.Sprintf("video from %s: framesDecoded above %v", user, base.Frames),
		fmt.Sprintf(`__huddleTest.inbound('video').then((s) => s.frames > %v)`, base.Frames), browserWait)
}

// TestBrowserFirefoxAndChromium: a call between Firefox ESR and Chromium through the
// reference server, Firefox hosting: video plays on both sides, each sees the other mute,
// and a reload of the Firefox page mid-call brings its call back (host included).
func TestBrowserFirefoxAndChromium(t *testing.T) {
	is := is.New(t)
	ts := startServer(t, "-dev-auth")
	fox := newFirefox(t, "fox")
	b := newBrowser(t)
	alice := b.newPage("alice")

	fox.signIn(ts.URL, "Fox")
	alice.signIn(ts.URL, "Alice")
	fox.joinRoom("cross")
	alice.joinRoom("cross")
	is.True(strings.Contains(ffEval[string](fox, `navigator.userAgent`), "Firefox")) // it is Firefox
	fox.run(`document.querySelector('#message-input').value = 'Hello from Firefox'; document.querySelector('#message-send').click()`)
	alice.waitMessage("Hello from Firefox")
	fox.waitJS("its message acknowledged", `[...document.querySelectorAll('#messages .message[data-id] .content')].some((c) => c.textContent === 'Hello from Firefox')`, browserWait)
	fox.shot("firefox-chat")

	fox.click("#start-meeting")
	fox.waitInCall()
	alice.do(chromedp.WaitVisible(chromedp.CSS("#invitation")), chromedp.Click(chromedp.CSS("#invitation-join")))
	alice.waitInCall()
	alice.waitVideoFrom("fox")
	fox.waitVideoFrom("alice")
	is.Equal(ffEval[bool](fox, `!document.querySelector('#stop-meeting').hidden`), true) // Firefox hosts
	fox.shot("firefox-call")

	// Mute state is seen across, both ways.
	fox.click("#toggle-mic")
	alice.waitJS("Fox's tile muted", `document.querySelector('#remote-videos .tile[data-user="fox"]')?.dataset.audio === 'false'`, browserWait)
	is.True(strings.Contains(eval[string](alice, `document.querySelector('#remote-videos .tile[data-user="fox"] .badges').innerText`), "MUTED"))
	alice.do(chromedp.Click(chromedp.CSS("#toggle-mic")))
	fox.waitJS("Alice's tile muted", `document.querySelector('#remote-videos .tile[data-user="alice"]')?.dataset.audio === 'false'`, browserWait)

	// Firefox reloads mid-call: its page resumes and rejoins; video flows again both ways.
	alice.do(chromedp.Evaluate[chromedp.Void](`__huddleTest.markOld()`))
	fox.reload()
	fox.waitJS("ready after the reload", `document.body.dataset.state === 'ready'`, browserWait)
	sessions := ffEval[[]hookEvent](fox, `__huddleTest.events.filter((e) => e.type === 'session')`)
	is.True(len(sessions) > 0 && sessions[0].Resumed) // the reloaded Firefox page resumed its session
	fox.waitInCall()
	fox.waitVideoFrom("alice")
	alice.waitJS("a new connection to Fox", `window.huddle.state.peerConnections().some((pc) => !pc.__old && pc.connectionState === 'connected')`, browserWait)
	alice.waitVideoFrom("fox")
	is.Equal(ffEval[bool](fox, `window.huddle.state.isHost`), true)                          // still the host after the reload
	is.Equal(len(alice.events("meeting_user_left")), 0)                                      // Alice never saw Fox leave
	is.Equal(ffEval[string](fox, `document.querySelector('#error').dataset.code ?? ''`), "") // Firefox showed no error
	is.Equal(alice.errorShown(), "")

	// Screen sharing in headless Firefox: whatever the browser answers, the page speaks for
	// itself, never with the browser's own text ("The object can not be found here.").
	fox.click("#toggle-screen")
	fox.waitJS("screen sharing on, or its failure explained", `window.huddle.client.mesh.screenTrack?.readyState === 'live'
		|| document.querySelector('#error').dataset.code === 'screen_unavailable'`, browserWait)
	shown := ffEval[string](fox, `document.querySelector('#error').dataset.code === 'screen_unavailable' ? document.querySelector('#error').textContent : 'shared'`)
	t.Logf("Firefox screen sharing: %s", shown)
	friendly := []string{"shared", "No screen or window is available to share.", "The screen could not be captured: another app may be using it.",
		"This browser cannot share the screen from this page.", "Screen sharing must be started by a click on the button.", "Screen sharing could not start. Please try again."}
	is.True(slices.Contains(friendly, shown)) // one of the page's own sentences
}
