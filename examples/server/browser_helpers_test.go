package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// Browser tests drive the embedded web client (web/) in headless Chromium through chromedp.
//
// Chromium flags that matter here:
//   - use-fake-ui-for-media-stream: grants camera and microphone without a prompt. In headless
//     Chromium it also makes getDisplayMedia capture a screen (a "screen:…" track, 800x600)
//     without a picker, so screen sharing needs no other flag; without it getUserMedia fails
//     with NotAllowedError and getDisplayMedia never settles.
//   - use-fake-device-for-media-stream: a synthetic camera (moving pattern) and a beeping
//     microphone, so real frames get encoded, sent and decoded.
//   - disable-features=WebRtcHideLocalIpsWithMdns: host candidates carry real IPs instead of
//     mDNS names (*.local) that Pion (mDNS off) cannot resolve.
//   - allow-loopback-in-peer-connection: Chromium also gathers 127.0.0.1 and ::1 candidates,
//     the only addresses of the loopback-only Pion peers. (On Linux a pair from another local
//     address to 127.0.0.1 works too, and ICE picks it, but that is the host's doing.)
const (
	browserWait  = 20 * time.Second // one UI step: a sign-in, a join, media flowing
	actionWait   = 15 * time.Second // one chromedp action
	viewportW    = 1280
	viewportH    = 800
	chromiumHint = "install Debian's chromium: apt-get install chromium (or set HUDDLE_REQUIRE_BROWSER=1 to fail instead of skipping)"
)

// chromiumPath finds Chromium (HUDDLE_CHROMIUM names another binary), or skips the test
// (fails it with HUDDLE_REQUIRE_BROWSER=1).
func chromiumPath(t *testing.T) string {
	t.Helper()
	names := []string{"chromium", "/usr/bin/chromium", "chromium-browser", "google-chrome"}
	if env := os.Getenv("HUDDLE_CHROMIUM"); env != "" {
		names = []string{env} // an explicit choice: no fallback
	}
	for _, name := range names {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("HUDDLE_REQUIRE_BROWSER") == "1" {
		t.Fatal("no Chromium found: " + chromiumHint)
	}
	t.Skip("no Chromium found: " + chromiumHint)
	return ""
}

// browser is one headless Chromium process; each page gets a browser context of its own
// (separate cookies and storage), like two people on two machines.
type browser struct {
	t   *testing.T
	ctx context.Context
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	if testing.Short() {
		t.Skip("browser end-to-end")
	}
	path := chromiumPath(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(viewportW, viewportH),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		// One disable-features flag: a second one would replace the defaults' value.
		chromedp.Flag("disable-features", "Translate,BlinkGenPropertyTrees,WebRtcHideLocalIpsWithMdns"),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
		defer ccancel()
		_ = chromedp.Cancel(cctx)
		cancel()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil { // starts the browser, bound to ctx (no timeout)
		t.Fatalf("start %s: %v", path, err)
	}
	return &browser{t: t, ctx: ctx}
}

// testHooks runs in every document of a page before the app's scripts: it records the
// client's meeting events (so a test can tell what the page saw, even across a reload of the
// other page) and offers getStats summaries.
const testHooks = `(() => {
  const rec = window.__huddleTest = { events: [] };
  const keep = new Set(['session', 'resumed', 'presence', 'meeting_user_joined', 'meeting_user_left',
    'meeting_ended', 'meeting_closed', 'remote_stream', 'remote_left']);
  const dispatch = EventTarget.prototype.dispatchEvent;
  EventTarget.prototype.dispatchEvent = function (e) {
    if (e instanceof CustomEvent && keep.has(e.type) && this.constructor?.name === 'HuddleClient') {
      const d = e.detail || {};
      rec.events.push({ type: e.type, user: d.user?.id ?? d.userId ?? null, status: d.status ?? null, resumed: d.resumed ?? null });
    }
    return dispatch.call(this, e);
  };
  // Every RTCPeerConnection the page makes, to check that none is left open.
  const PC = window.RTCPeerConnection;
  rec.pcs = [];
  if (PC) window.RTCPeerConnection = class extends PC { constructor(...args) { super(...args); rec.pcs.push(this); } };
  rec.openPCs = () => rec.pcs.filter((pc) => pc.signalingState !== 'closed').length;
  // Inbound RTP of one kind, summed over the open peer connections not marked old.
  rec.inbound = async (kind) => {
    let frames = 0, packets = 0;
    for (const pc of window.huddle?.state.peerConnections() ?? []) {
      if (pc.__old) continue;
      const stats = await pc.getStats();
      stats.forEach((r) => {
        if (r.type === 'inbound-rtp' && r.kind === kind) { frames += r.framesDecoded || 0; packets += r.packetsReceived || 0; }
      });
    }
    return { frames, packets };
  };
  // Inbound video frames decoded, per open peer connection (one entry per remote user).
  rec.framesPerPeer = async () => {
    const out = {};
    for (const [id, peer] of window.huddle?.client?.mesh.peers ?? []) {
      if (peer.pc.signalingState === 'closed') continue;
      let frames = 0;
      (await peer.pc.getStats()).forEach((r) => { if (r.type === 'inbound-rtp' && r.kind === 'video') frames += r.framesDecoded || 0; });
      out[id] = frames;
    }
    return out;
  };
  // The ICE candidate pair the first connection uses, for the logs.
  rec.selectedPair = async () => {
    const pc = window.huddle?.state.peerConnections()[0];
    if (!pc) return '';
    const stats = await pc.getStats();
    let pair = null;
    stats.forEach((r) => { if (r.type === 'transport' && r.selectedCandidatePairId) pair = stats.get(r.selectedCandidatePairId); });
    const l = pair && stats.get(pair.localCandidateId), r = pair && stats.get(pair.remoteCandidateId);
    return l && r ? l.candidateType + ' ' + l.address + ':' + l.port + ' <-> ' + r.candidateType + ' ' + r.address + ':' + r.port : '';
  };
  // Whether the page came back from the back/forward cache (pageshow with persisted).
  rec.restored = false;
  window.addEventListener('pageshow', (e) => { if (e.persisted) rec.restored = true; });
  rec.markOld = () => (window.huddle?.state.peerConnections() ?? []).forEach((pc) => { pc.__old = true; });
  rec.remoteVideo = (user) => document.querySelector('#remote-videos video.remote-video[data-user="' + user + '"]');
  rec.videoSenderTrack = () => {
    const pc = window.huddle?.state.peerConnections()[0];
    const s = pc?.getSenders().find((s) => s.track?.kind === 'video');
    return s ? { id: s.track.id, label: s.track.label, state: s.track.readyState } : null;
  };
})()`

// page is one tab of one user.
type page struct {
	t    *testing.T
	ctx  context.Context
	name string

	mu      sync.Mutex
	console []string
}

// newPage opens a tab in a fresh browser context with a 1280x800 viewport and the test hooks.
func (b *browser) newPage(name string) *page {
	t := b.t
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	p := &page{t: t, ctx: ctx, name: name}
	if err := chromedp.Do(ctx); err != nil { // opens the tab, bound to ctx
		cancel()
		t.Fatalf("%s: new tab: %v", name, err)
	}
	messages := chromedp.Console(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			p.mu.Lock()
			p.console = append(p.console, fmt.Sprintf("%s %s", m.Time.Format("15:04:05.000"), m))
			p.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("HUDDLE_BROWSER_CONSOLE") == "1" {
			p.mu.Lock()
			t.Logf("%s: browser console:\n  %s", name, strings.Join(p.console, "\n  "))
			p.mu.Unlock()
		}
		cancel()
		<-done
	})
	p.do(
		chromedp.EmulateViewport(viewportW, viewportH),
		chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.Call(ctx, cdppage.AddScriptToEvaluateOnNewDocument, cdppage.AddScriptToEvaluateOnNewDocumentParams{Source: testHooks})
			return err
		}),
	)
	return p
}

// do runs actions with a deadline and fails the test on an error.
func (p *page) do(actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, actionWait)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.t.Fatalf("%s: %v", p.name, err)
	}
}

// eval evaluates expr (awaiting a promise) and decodes the result into T.
func eval[T any](p *page, expr string) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, actionWait)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		p.t.Fatalf("%s: eval %s: %v", p.name, expr, err)
	}
	return v
}

// waitJS waits until expr (which may return a promise) is truthy, polling every 100 ms up to
// d. what says in the failure message what the test waited for.
func (p *page) waitJS(what, expr string, d time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(d)
	probe := fmt.Sprintf("(async () => !!(%s))()", expr)
	var lastErr error
	for {
		ctx, cancel := context.WithTimeout(p.ctx, actionWait)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](probe, chromedp.EvalAwaitPromise))
		cancel()
		if err == nil && ok {
			return
		}
		if err != nil {
			lastErr = err
			if errors.Is(err, context.Canceled) {
				break
			}
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond) // poll interval, bounded by the deadline
	}
	p.shot("fail-" + p.name)
	p.t.Fatalf("%s: no %s within %v (last error: %v)", p.name, what, d, lastErr)
}

// signIn loads the app and signs in with a display name (dev auth).
func (p *page) signIn(url, name string) {
	p.t.Helper()
	p.do(
		chromedp.Navigate(url),
		chromedp.WaitVisible(chromedp.CSS("#signin-name")), // shown once config.json said "dev"
		chromedp.SendKeys(chromedp.CSS("#signin-name"), name),
		chromedp.Click(chromedp.CSS("#signin-submit")),
	)
	p.waitJS("signed-in ready state", `document.body.dataset.state === 'ready'`, browserWait)
}

// joinRoom joins (and opens) a chat room from the sidebar.
func (p *page) joinRoom(room string) {
	p.t.Helper()
	p.do(
		chromedp.SendKeys(chromedp.CSS("#room-input"), room),
		chromedp.Click(chromedp.CSS("#room-join")),
	)
	p.waitJS("room "+room+" open", fmt.Sprintf(`window.huddle.state.room === %q && !document.querySelector('#message-input').disabled
		&& !!document.querySelector('.room-item.active[data-room=%q]')`, room, room), browserWait)
}

// waitInCall waits for the meeting view.
func (p *page) waitInCall() {
	p.t.Helper()
	p.waitJS("meeting view in-call", `document.querySelector('#meeting').dataset.state === 'in-call' && !document.querySelector('#meeting').hidden`, browserWait)
}

// waitVideoFrom waits until the remote <video> of user plays frames: it has a size, and the
// inbound video frames decoded (getStats) grow past their count after the video had a size.
func (p *page) waitVideoFrom(user string) {
	p.t.Helper()
	p.waitJS("a sized remote video from "+user, fmt.Sprintf(`(() => { const v = __huddleTest.remoteVideo(%q); return v && v.videoWidth > 0 && v.videoHeight > 0; })()`, user), browserWait)
	p.waitFramesGrow("video from " + user)
}

// waitFramesGrow samples the inbound video frames decoded, then waits for more.
func (p *page) waitFramesGrow(what string) {
	p.t.Helper()
	base := eval[inboundStats](p, `__huddleTest.inbound('video')`)
	p.waitJS(fmt.Sprintf("%s: framesDecoded above %v", what, base.Frames),
		fmt.Sprintf(`__huddleTest.inbound('video').then((s) => s.frames > %v)`, base.Frames), browserWait)
}

// errorShown returns the code of the last error the #error toast showed ("" for none): the
// app keeps data-code after the toast hides.
func (p *page) errorShown() string {
	p.t.Helper()
	return eval[string](p, `document.querySelector('#error').dataset.code ?? ''`)
}

// events returns the recorded client events of type typ.
func (p *page) events(typ string) []hookEvent {
	p.t.Helper()
	return eval[[]hookEvent](p, fmt.Sprintf(`__huddleTest.events.filter((e) => e.type === %q)`, typ))
}

// inboundStats is __huddleTest.inbound(kind): inbound RTP summed over the open connections.
type inboundStats struct {
	Frames  float64 `json:"frames"`
	Packets float64 `json:"packets"`
}

type hookEvent struct {
	Type    string `json:"type"`
	User    string `json:"user"`
	Status  string `json:"status"`
	Resumed bool   `json:"resumed"`
}

// shot writes a PNG of the viewport to the artifacts folder (HUDDLE_ARTIFACTS, else
// <repo>/testdata/artifacts), and with HUDDLE_UPDATE_DOCS=1 also to <repo>/docs/<docName>.png
// when docName is set. Screenshots are best effort: a failure is logged, not fatal.
func (p *page) shot(name string, docName ...string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, actionWait)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		p.t.Logf("%s: screenshot %s: %v", p.name, name, err)
		return
	}
	saveShot(p.t, p.name, name, png, docName...)
}

// saveShot writes a screenshot as shot describes (Chromium's and Firefox's alike).
func saveShot(t *testing.T, who, name string, png []byte, docName ...string) {
	t.Helper()
	root := repoRoot()
	dir := os.Getenv("HUDDLE_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(root, "testdata", "artifacts")
	}
	paths := []string{filepath.Join(dir, name+".png")}
	if os.Getenv("HUDDLE_UPDATE_DOCS") == "1" {
		for _, d := range docName {
			paths = append(paths, filepath.Join(root, "docs", d+".png"))
		}
	}
	for _, path := range paths {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Logf("screenshot: %v", err)
			continue
		}
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Logf("screenshot: %v", err)
			continue
		}
		t.Logf("%s: screenshot %s", who, path)
	}
}

// repoRoot is the directory of the module's go.mod (tests run in examples/server).
func repoRoot() string {
	dir, err := os.Getwd()
	if err != nil {
		return "."
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			return dir
		}
	}
}
