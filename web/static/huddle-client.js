// huddle-client.js — a dependency-free browser client for the Huddle wire protocol v1
// (codec "json"): requests with refs, resume after reloads and network flickers, reconnect with
// backoff, and a glare-free WebRTC mesh for meetings (PROTOCOL.md §7).
//
//   import { HuddleClient } from './huddle-client.js';
//   const client = new HuddleClient();
//   client.on('message', (m) => console.log(m.sender.username, m.content));
//   client.connect({ name: 'Alice' });   // dev auth: the server derives the id; or { token: '<JWT>' }
//   const joined = await client.request('join_room', { roomId: 'lobby' });

const REQUEST_TIMEOUT_MS = 10_000;
const SEND_WAIT_MS = 3_000; // how long send() listens for an error to a fire-and-forget event
const PING_EVERY_MS = 25_000;
const PING_TIMEOUT_MS = 10_000;
const BACKOFF_START_MS = 250;
const BACKOFF_CAP_MS = 10_000;
const AUTH_FAILURES = 3; // consecutive failed sockets (no `session`) before we suspect auth
const OUTBOX_MAX = 200;
const RESUMED_FALLBACK_MS = 5_000; // emit 'synced' even if `resumed` never arrives
const OFFER_FALLBACK_MS = 5_000; // a joiner offers itself to participants that stayed silent
const POLITE_EXTRA_MS = 3_000; // ...the polite side later, so two rejoiners do not both offer
const ICE_WATCHDOG_MS = 10_000; // negotiated but still not connected: restart ICE
const ICE_DISCONNECTED_MS = 5_000; // disconnected this long: restart ICE rather than wait for failed
const ICE_POLITE_RESTART_MS = 4_000; // failed and the impolite side did not restart: the polite side does

// Events that are stale by the time a reconnect could send them: dropped while offline.
const EPHEMERAL = new Set(['typing', 'ping']);

/** An `error` frame (or a local failure such as a timeout) as a throwable Error with `.code`. */
export class HuddleError extends Error {
  constructor(code, message, extra = {}) {
    super(message || code);
    this.name = 'HuddleError';
    this.code = code;
    Object.assign(this, extra);
  }
}

function fingerprint(sdp) {
  return /^a=fingerprint:(.+)$/m.exec(sdp || '')?.[1]?.trim() ?? '';
}

function defaultUrl() {
  const { protocol, host } = globalThis.location;
  return `${protocol === 'https:' ? 'wss' : 'ws'}://${host}/ws`;
}

// A stable storage key per user. In JWT mode the user id is read (not verified) from `sub`.
function identityOf(auth) {
  if (auth.user) return auth.user;
  if (!auth.token) return `name:${auth.name}`;
  try {
    const part = auth.token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const sub = JSON.parse(atob(part)).sub;
    if (sub) return String(sub);
  } catch { /* not a JWT we can read: fall through */ }
  return 'token';
}

/**
 * HuddleClient speaks PROTOCOL.md over one WebSocket. Every server event is re-dispatched as a
 * CustomEvent of the same name whose `detail` is the event's data; `on(name, fn)` is a shortcut.
 * Extra events: state, resync, synced, auth_failed, disconnected, remote_stream, remote_left,
 * local_stream, media_error, meeting_closed, host_status, peer_state.
 */
export class HuddleClient extends EventTarget {
  constructor({ url = defaultUrl(), storage = globalThis.sessionStorage, timeoutMs = REQUEST_TIMEOUT_MS, iceTransportPolicy = 'all' } = {}) {
    super();
    this.url = url;
    this.iceTransportPolicy = iceTransportPolicy; // 'relay': TURN only (RTCConfiguration.iceTransportPolicy)
    this.storage = storage;
    this.timeoutMs = timeoutMs;
    this.state = 'idle'; // idle | connecting | open | ready | reconnecting | closed
    this.user = null;
    this.sessionId = null;
    this.iceServers = [];
    this.limits = {};
    this.auth = null;
    this.mesh = new Mesh(this);

    this._ws = null;
    this._ready = false; // a `session` arrived on the current socket
    this._ref = 0;
    // Refs are unique per page load: a resumed session replays replies that carry the refs of
    // the page before the reload, and those must not settle this page's requests.
    this._refPrefix = Math.random().toString(36).slice(2, 7) + '-';
    this._pending = new Map(); // ref -> {resolve, reject, reply, match, expectReply, timer}
    this._outbox = [];
    this._lastSeq = 0;
    this._attempt = 0;
    this._failures = 0;
    this._reconnectTimer = null;
    this._pingTimer = null;
    this._syncTimer = null;
    this._stopped = true;
    this._gen = 0; // bumped by connect/disconnect; stale async work checks it
    this._resumeAttempted = false;
    this._resumeDropped = false;

    // Reconnect at once when the network comes back instead of waiting for the backoff.
    globalThis.addEventListener?.('online', () => this.state === 'reconnecting' && this._open());
    // A page that is navigated away from may sit in the back/forward cache, alive: close its
    // socket (with a code that keeps the session resumable, unlike 1000), so the user goes
    // offline once the resume window passes; coming back resumes or re-syncs.
    this._hidden = false;
    globalThis.addEventListener?.('pagehide', () => this._pageHidden());
    globalThis.addEventListener?.('pageshow', (e) => { if (e.persisted) this._pageShown(); });
  }

  _pageHidden() {
    if (this._stopped || this._hidden) return;
    this._hidden = true;
    clearTimeout(this._reconnectTimer);
    this._stopPing();
    const ws = this._ws;
    if (ws) {
      this._detach(ws);
      try { ws.close(4001, 'page hidden'); } catch { /* already closed */ }
    }
    this._ready = false;
  }

  _pageShown() {
    if (!this._hidden) return;
    this._hidden = false;
    if (this._stopped) return;
    this._attempt = 0;
    if (this.mesh.roomId) {
      // The browser may have torn the call's connections down in the cache: join afresh.
      const off = this.on('synced', () => { off(); this.mesh._rejoin(); });
    }
    this._open();
  }

  /** Subscribe to an event; `fn(detail, event)`. Returns an unsubscribe function. */
  on(type, fn) {
    const h = (e) => fn(e.detail, e);
    this.addEventListener(type, h);
    return () => this.removeEventListener(type, h);
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  _setState(state) {
    if (this.state === state) return;
    this.state = state;
    this._emit('state', { state });
  }

  // ---- connection ---------------------------------------------------------------------------

  /** Connect with `{user, name}` (dev auth) or `{token}` (JWT). Resumes a stored session. */
  connect(auth) {
    if (!auth || !(auth.token || auth.user || auth.name)) throw new TypeError('connect: need {name}, {user, name} or {token}');
    this.disconnect({ forget: false });
    this.auth = auth;
    this._key = `huddle.resume.${identityOf(auth)}`;
    this._lastSeq = this._loadResume()?.seq || 0;
    this._stopped = false;
    this._failures = 0;
    this._attempt = 0;
    this._open();
  }

  /** Close for good (code 1000). With `forget`, also drop the stored resume token. */
  disconnect({ forget = true } = {}) {
    this._stopped = true;
    this._gen++;
    clearTimeout(this._syncTimer);
    this._syncTimer = null;
    clearTimeout(this._reconnectTimer);
    this._stopPing();
    if (this.mesh.roomId) this.mesh.closeAllConnections('disconnected');
    if (this._ws) {
      const ws = this._ws;
      this._detach(ws);
      try { ws.close(1000, 'bye'); } catch { /* already closed */ }
    }
    this._ready = false;
    for (const p of this._pending.values()) this._settle(p, null, new HuddleError('closed', 'client disconnected'));
    this._outbox = [];
    if (forget && this._key) this.storage?.removeItem(this._key);
    if (this.auth) this._setState('closed');
  }

  _loadResume() {
    try { return JSON.parse(this.storage?.getItem(this._key) || 'null'); } catch { return null; }
  }

  _saveResume() {
    if (!this.resumeToken) return;
    try {
      this.storage?.setItem(this._key, JSON.stringify({ token: this.resumeToken, seq: this._lastSeq }));
    } catch { /* storage full or disabled: resume just won't work */ }
  }

  _params(withResume) {
    const p = new URLSearchParams({ codec: 'json' });
    if (this.auth.token) p.set('token', this.auth.token);
    else {
      if (this.auth.user) p.set('user', this.auth.user);
      if (this.auth.name) p.set('name', this.auth.name.normalize('NFC'));
    }
    const saved = withResume && this._loadResume();
    if (saved?.token) {
      p.set('resume', saved.token);
      p.set('lastSeq', String(saved.seq || 0));
    }
    return p;
  }

  _open() {
    clearTimeout(this._reconnectTimer);
    if (this._stopped || this._hidden) return;
    if (this._ws) this._detach(this._ws);
    const params = this._params(true);
    this._resumeAttempted = params.has('resume');
    this._setState(this.state === 'idle' || this.state === 'closed' || this.state === 'connecting' ? 'connecting' : 'reconnecting');
    let ws;
    try {
      // The codec is chosen by query (not subprotocol): browsers fail the handshake when a
      // server does not echo an offered subprotocol.
      ws = new WebSocket(`${this.url}?${params}`);
    } catch (err) {
      console.warn('huddle: cannot open socket', err);
      this._scheduleReconnect(false);
      return;
    }
    this._ws = ws;
    this._ready = false;
    ws.onopen = () => this._setState('open');
    ws.onmessage = (e) => this._onFrame(e.data);
    ws.onclose = (e) => this._onClose(ws, e.code, e.reason);
    ws.onerror = () => { /* a close event follows */ };
  }

  _detach(ws) {
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    if (this._ws === ws) this._ws = null;
  }

  // Drop a socket that looks dead (no pong) and reconnect as if it had closed abnormally.
  _abandon(reason) {
    const ws = this._ws;
    if (!ws) return;
    this._detach(ws);
    try { ws.close(); } catch { /* ignore */ }
    this._onClose(ws, 1006, reason, true);
  }

  async _onClose(ws, code, reason, abandoned = false) {
    if (!abandoned && ws !== this._ws) return;
    if (this._ws === ws) this._detach(ws);
    const hadSession = this._ready;
    this._ready = false;
    this._stopPing();
    this._emit('disconnected', { code, reason });
    if (this._stopped) return this._setState('closed');
    if (this._hidden) return;

    // 1000: closed on purpose; 1008: policy (expired token, bad origin); 4xxx: application
    // (auth) codes. None of these gets better by retrying.
    if (code === 1000 || code === 1008 || (code >= 4000 && code < 5000)) {
      this._stopped = true;
      this._setState('closed');
      if (code !== 1000) this._emit('auth_failed', { code, reason });
      return;
    }
    // A socket that failed before its `session` while offering a resume token may have been
    // refused for the token (a restarted server has another secret: HTTP 401): ask at once
    // rather than after AUTH_FAILURES attempts, so a restart costs one round trip, not seconds.
    if (hadSession) this._failures = 0;
    else if (++this._failures >= AUTH_FAILURES || this._resumeAttempted) {
      const gen = this._gen;
      const goOn = await this._probeAuth();
      if (!goOn || gen !== this._gen) return; // gave up, or connect()/disconnect() ran meanwhile
    }
    this._scheduleReconnect(code === 1012 || code === 1013);
  }

  // A failed upgrade (HTTP 401) is invisible to WebSocket code, so ask the endpoint over plain
  // HTTP, without the resume token: 401 means our credentials are bad; anything else means the
  // server is up and accepts them (the resume token may be the problem: drop it). A network
  // error means the server is down: keep retrying. Returns false when we gave up.
  async _probeAuth() {
    let status = 0;
    try {
      const res = await fetch(`${this.url.replace(/^ws/, 'http')}?${this._params(false)}`, { cache: 'no-store' });
      status = res.status;
    } catch { /* unreachable */ }
    if (this._stopped) return false;
    if (status === 401 || status === 403) {
      this._stopped = true;
      this._setState('closed');
      this._emit('auth_failed', { code: status, reason: 'unauthorized' });
      return false;
    }
    if (status && this._loadResume()) {
      this.storage?.removeItem(this._key);
      this._resumeDropped = true;
      this._failures = 0;
    }
    return true;
  }

  _scheduleReconnect(quick) {
    clearTimeout(this._reconnectTimer);
    this._setState('reconnecting');
    let delay;
    if (quick) delay = 100 + Math.random() * 400; // server restart / slow consumer: come back soon
    else {
      const base = Math.min(BACKOFF_CAP_MS, BACKOFF_START_MS * 2 ** this._attempt++);
      delay = base / 2 + Math.random() * (base / 2); // "equal jitter"
    }
    this._reconnectTimer = setTimeout(() => this._open(), delay);
  }

  _startPing() {
    this._stopPing();
    this._pingTimer = setInterval(() => {
      this.request('ping', {}, { reply: 'pong', timeout: PING_TIMEOUT_MS }).catch((err) => {
        // Any answer (even unknown_event) proves the socket is alive; only silence is fatal.
        if (err.code === 'timeout') this._abandon('ping timeout');
      });
    }, PING_EVERY_MS);
  }

  _stopPing() {
    clearInterval(this._pingTimer);
    this._pingTimer = null;
  }

  // ---- frames -------------------------------------------------------------------------------

  _onFrame(raw) {
    if (typeof raw !== 'string') return; // binary codecs are not spoken here
    let frame;
    try { frame = JSON.parse(raw); } catch { return console.warn('huddle: bad frame', raw); }
    const { event } = frame;
    if (typeof event !== 'string') return;
    const data = frame.data !== undefined ? frame.data : frame.payload;
    const seq = typeof frame.seq === 'number' ? frame.seq : null;

    if (event === 'session') this._onSession(data);
    else if (seq !== null && seq <= this._lastSeq) return; // already processed (replay overlap)

    this._matchPending(event, data, frame.ref ?? (event === 'error' ? data?.ref : undefined));
    if (event === 'error') {
      this._emit('error', { ...data, ref: frame.ref ?? data?.ref });
    } else {
      this.mesh._handle(event, data); // meeting state first, so UI handlers see it updated
      this._emit(event, data);
    }
    if (event === 'session' && data?.resumed !== true && (this._resumeAttempted || this._resumeDropped)) {
      this._resumeDropped = false;
      this._emit('resync', data);
      this.mesh._resync();
    }
    if (event === 'session' && data?.resumed !== true) this._emit('synced', { resumed: false });
    if (event === 'resumed') this._synced(true);

    if (seq !== null && seq > this._lastSeq) {
      this._lastSeq = seq;
      this._saveResume();
    }
  }

  _onSession(d = {}) {
    this.sessionId = d.sessionId;
    this.user = d.user || this.user;
    this.iceServers = Array.isArray(d.iceServers) ? d.iceServers : [];
    this.limits = d.limits || {};
    this.resumeToken = d.resumeToken;
    if (d.resumed !== true) this._lastSeq = 0; // seq numbers are per session
    this._saveResume();
    this._ready = true;
    this._failures = 0;
    this._attempt = 0;
    this._setState('ready');
    this._startPing();
    clearTimeout(this._syncTimer);
    this._syncTimer = null;
    if (d.resumed === true) this._syncTimer = setTimeout(() => this._synced(false), RESUMED_FALLBACK_MS);
    const queued = this._outbox.splice(0);
    for (const frame of queued) this._write(frame);
  }

  // After a resumed session, 'synced' waits for the replay to end (`resumed`), or a fallback.
  _synced(viaResumed) {
    if (this._syncTimer === null && viaResumed) return; // the fallback already fired
    clearTimeout(this._syncTimer);
    this._syncTimer = null;
    this._emit('synced', { resumed: true });
  }

  _matchPending(event, data, ref) {
    let entry;
    if (ref != null) entry = this._pending.get(String(ref));
    else if (event !== 'error') {
      // Replies without a ref (e.g. the `message` echo) are matched by event name + predicate.
      for (const p of this._pending.values()) {
        if (p.reply === event && (!p.match || p.match(data))) { entry = p; break; }
      }
    }
    if (!entry) return;
    if (event === 'error') {
      this._settle(entry, null, new HuddleError(data?.code || 'error', data?.message, { event: data?.event, ref }));
    } else this._settle(entry, data);
  }

  _settle(entry, value, err) {
    clearTimeout(entry.timer);
    this._pending.delete(entry.ref);
    if (err && (entry.expectReply || err.code !== 'timeout')) entry.reject(err);
    else entry.resolve(value ?? undefined);
  }

  _write(frame) {
    try {
      this._ws.send(JSON.stringify(frame));
    } catch (err) {
      const p = this._pending.get(frame.ref);
      if (p) this._settle(p, null, new HuddleError('disconnected', String(err)));
    }
  }

  // ---- sending ------------------------------------------------------------------------------

  /**
   * Send an event. Resolves with the reply (a frame with the same ref, or the event named by
   * `opts.reply` that satisfies `opts.match`), rejects with a HuddleError on an `error` with
   * the same ref, and resolves undefined when nothing came back in time (fire-and-forget).
   * Frames sent while disconnected are queued and sent after the next `session`.
   */
  send(event, data = {}, opts = {}) {
    return this._call(event, data, { timeout: opts.reply ? this.timeoutMs : SEND_WAIT_MS, ...opts, expectReply: false });
  }

  /** Like send(), but a missing reply rejects with code `timeout`. */
  request(event, data = {}, opts = {}) {
    return this._call(event, data, { timeout: this.timeoutMs, ...opts, expectReply: true });
  }

  _call(event, data, { reply, match, timeout, expectReply, queue = !EPHEMERAL.has(event) }) {
    return new Promise((resolve, reject) => {
      const ref = this._refPrefix + ++this._ref;
      const entry = { ref, reply, match, expectReply, resolve, reject };
      const frame = { event, data, ref };
      if (!this._ready && (!queue || this._stopped || this._outbox.length >= OUTBOX_MAX)) {
        return this._settle(entry, null, new HuddleError(this._stopped ? 'closed' : 'disconnected', 'not connected'));
      }
      entry.timer = setTimeout(() => this._settle(entry, null, new HuddleError('timeout', `${event}: no reply`)), timeout);
      this._pending.set(ref, entry);
      if (this._ready) this._write(frame);
      else this._outbox.push(frame);
    });
  }

  // ---- meetings (delegated to the mesh) -------------------------------------------------------

  startMeeting(roomId, opts) { return this.mesh.start(roomId, opts); }
  joinMeeting(roomId, opts) { return this.mesh.join(roomId, opts); }
  leaveMeeting() { return this.mesh.leave(); }
  stopMeeting() { return this.mesh.stop(); }
  closeAllConnections() { this.mesh.closeAllConnections('closed'); }
  setMicEnabled(on) { return this.mesh.setMicEnabled(on); }
  setCameraEnabled(on) { return this.mesh.setCameraEnabled(on); }
  startScreenShare() { return this.mesh.startScreenShare(); }
  stopScreenShare() { return this.mesh.stopScreenShare(); }
  localTracks() { return [...this.mesh.allTracks]; }
  peerConnections() { return [...this.mesh.peers.values()].map((p) => p.pc).filter((pc) => pc.signalingState !== 'closed'); }
}

/**
 * videoCap is the budget of one outgoing video stream when it is sent to `peers` remote
 * participants: in a mesh every peer gets its own copy, so the uplink carries peers × bitrate.
 * The caps keep a 6-person mesh (5 copies) near 2 Mbit/s, within a home uplink.
 */
export function videoCap(peers) {
  if (peers <= 1) return { maxBitrate: 1_500_000, maxHeight: 720 };
  if (peers === 2) return { maxBitrate: 1_000_000, maxHeight: 720 };
  if (peers === 3) return { maxBitrate: 600_000, maxHeight: 480 };
  if (peers <= 5) return { maxBitrate: 400_000, maxHeight: 360 };
  return { maxBitrate: 250_000, maxHeight: 270 };
}

/**
 * Mesh holds the local media and one RTCPeerConnection per remote participant of the meeting
 * this client is in. Who offers first: the participant that receives `meeting_user_joined`; the
 * joiner only answers. Later renegotiations (screen share without a camera, ICE restarts) use
 * the "perfect negotiation" pattern: the peer with the smaller user id is polite.
 */
export class Mesh {
  constructor(client) {
    this.client = client;
    this.roomId = null;
    this.isHost = false;
    this.peers = new Map(); // userId -> peer state
    this.camStream = null; // from getUserMedia (audio and/or video), null when receive-only
    this.screenTrack = null;
    this.allTracks = new Set(); // every local track acquired (ended ones kept until next acquire)
    this._gen = 0; // bumped by closeAllConnections, cancels in-flight starts and joins
  }

  get me() { return this.client.user?.id; }
  get audioTrack() { return this.camStream?.getAudioTracks()[0] || null; }
  get cameraTrack() { return this.camStream?.getVideoTracks()[0] || null; }
  get outgoingVideo() { return this.screenTrack || this.cameraTrack; }
  get micEnabled() { return !!this.audioTrack?.enabled; }
  get cameraEnabled() { return !!this.cameraTrack?.enabled; }

  /** The stream for the local preview: video only, so it can never echo. */
  previewStream() {
    const v = this.outgoingVideo;
    return v ? new MediaStream([v]) : null;
  }

  /** getUserMedia once per call. Falls back to audio only, then to receive-only. */
  async acquireMedia(constraints = { audio: true, video: true }) {
    if (this.camStream?.getTracks().some((t) => t.readyState === 'live')) return this.camStream;
    for (const t of this.allTracks) if (t.readyState === 'ended') this.allTracks.delete(t);
    const gen = this._gen;
    let stream = null;
    try {
      if (!navigator.mediaDevices?.getUserMedia) throw new DOMException('getUserMedia unavailable (insecure origin?)', 'NotSupportedError');
      stream = await navigator.mediaDevices.getUserMedia(constraints);
    } catch (err) {
      if (constraints.video && constraints.audio && navigator.mediaDevices?.getUserMedia) {
        try { stream = await navigator.mediaDevices.getUserMedia({ audio: true }); } catch { /* receive-only */ }
      }
      this.client._emit('media_error', { name: err.name, message: err.message, receiveOnly: !stream });
    }
    if (stream && gen !== this._gen) { // the call was left while the prompt was open
      stream.getTracks().forEach((t) => t.stop());
      return null;
    }
    if (stream) {
      this.camStream = stream;
      stream.getTracks().forEach((t) => this.allTracks.add(t));
      this.client._emit('local_stream', { stream: this.previewStream() });
    }
    return stream;
  }

  _setHost(isHost) {
    if (this.isHost === isHost) return;
    this.isHost = isHost;
    this.client._emit('host_status', { roomId: this.roomId, isHost });
  }

  /** Start a meeting as host: media first, then `start_meeting`; resolves with the meeting. */
  async start(roomId, { type, constraints } = {}) {
    if (this.roomId) await this.leave();
    const gen = this._gen;
    await this.acquireMedia(constraints);
    if (gen !== this._gen) throw new HuddleError('cancelled', 'meeting left');
    this.roomId = roomId;
    try {
      const m = await this.client.request('start_meeting', type ? { roomId, type } : { roomId },
        { reply: 'meeting_started', match: (d) => d?.roomId === roomId });
      this._setHost(true);
      this.sendMediaState();
      return m;
    } catch (err) {
      if (gen === this._gen) this.closeAllConnections(err.code === 'not_found' ? 'not_found' : 'failed');
      throw err;
    }
  }

  /**
   * Join (or rejoin) a meeting: media, then `join_meeting {roomId}` without hostId, so the server
   * tells every other participant, and each of them sends us an offer.
   */
  async join(roomId, { constraints, isHost = false } = {}) {
    if (this.roomId && this.roomId !== roomId) await this.leave();
    const gen = this._gen;
    await this.acquireMedia(constraints);
    if (gen !== this._gen) throw new HuddleError('cancelled', 'meeting left');
    this._closePeers(); // everyone will offer afresh after this join
    this.roomId = roomId;
    this._joining = roomId; // until meeting_joined: see _handle('meeting_user_joined')
    if (isHost) this._setHost(true);
    let res;
    try {
      res = await this.client.request('join_meeting', { roomId }, { reply: 'meeting_joined', match: (d) => d?.roomId === roomId });
    } catch (err) {
      if (gen === this._gen) this.closeAllConnections(err.code === 'not_found' ? 'not_found' : 'failed');
      throw err;
    } finally {
      if (this._joining === roomId) this._joining = null;
    }
    this.sendMediaState();
    this._expectOffers(roomId, (res?.participants || []).filter((u) => u?.id && u.id !== this.me));
    // meeting_joined does not name the host; room info does.
    this.client.request('get_room_info', { roomId }, { reply: 'room_info_response', match: (d) => !d?.roomId || d.roomId === roomId })
      .then((info) => { if (this.roomId === roomId && info?.host) this._setHost(info.host.id === this.me); })
      .catch(() => {});
    return res;
  }

  // Safety net: participants are told of our join and offer at once. One that has not offered
  // after a while (a server that did not re-announce a rejoin, a lost frame) gets our offer;
  // perfect negotiation and the fingerprint check below keep that safe in a late collision.
  // Two rejoiners that both time out would offer at once; a glare on an initial offer makes the
  // polite side roll it back, and Chromium then gathers no candidates for its answer. So the
  // polite side waits longer and normally just answers the impolite side's offer.
  _expectOffers(roomId, participants) {
    this._offerTimers?.forEach(clearTimeout);
    const gen = this._gen;
    this._expected = new Map(participants.map((u) => [u.id, u]));
    this._offerTimers = participants.map((u) => setTimeout(() => {
      if (this.roomId !== roomId || gen !== this._gen || this.peers.has(u.id) || !this._expected.has(u.id)) return;
      console.info('huddle: no offer from', u.id, '- offering instead');
      this._attachLocalTracks(this._createPeer(u.id, u), true);
    }, OFFER_FALLBACK_MS + (String(this.me) < String(u.id) ? POLITE_EXTRA_MS : 0)));
  }

  async leave() {
    const roomId = this.roomId;
    if (!roomId) return;
    this.closeAllConnections('left');
    await this.client.send('leave_meeting', { roomId }).catch(() => {});
  }

  /** End the meeting for everyone (host only: `forbidden` keeps the call and rethrows). */
  async stop() {
    const roomId = this.roomId;
    if (!roomId) return;
    try {
      // The stopping session gets no meeting_ended; the inactive invitation confirms the stop.
      await this.client.request('stop_meeting', { roomId },
        { reply: 'meeting_invitation', match: (d) => d?.roomId === roomId && d.status === 'inactive' });
    } catch (err) {
      if (err.code !== 'timeout' && err.code !== 'not_found') throw err;
    }
    if (this.roomId === roomId) this.closeAllConnections('stopped');
  }

  /** Stop every local track, close every peer connection and forget the meeting. */
  closeAllConnections(reason = 'closed') {
    this._gen++;
    this._joining = null;
    this._offerTimers?.forEach(clearTimeout);
    const roomId = this.roomId;
    for (const t of this.allTracks) t.stop();
    this.camStream?.getTracks().forEach((t) => t.stop());
    this.screenTrack?.stop();
    this.camStream = null;
    this.screenTrack = null;
    this._closePeers();
    this.roomId = null;
    this._setHost(false);
    this.client._emit('local_stream', { stream: null });
    if (roomId) this.client._emit('meeting_closed', { roomId, reason });
  }

  _closePeers() {
    for (const id of [...this.peers.keys()]) this._closePeer(id);
  }

  _closePeer(userId) {
    const peer = this.peers.get(userId);
    if (!peer) return;
    this.peers.delete(userId);
    clearTimeout(peer.watchdog);
    clearTimeout(peer.iceTimer);
    peer.pc.onsignalingstatechange = peer.pc.onicecandidate = peer.pc.ontrack = peer.pc.onnegotiationneeded = peer.pc.onconnectionstatechange = null;
    peer.pc.close();
    this.client._emit('remote_left', { userId });
    this._applyCaps();
  }

  // Rejoin after losing our binding (a fresh session, or our own meeting_user_left in a replay).
  _rejoin() {
    const roomId = this.roomId;
    if (!roomId || this._rejoining) return;
    this._rejoining = true;
    this.join(roomId, { isHost: this.isHost })
      .catch((err) => {
        console.warn('huddle: rejoin failed', err);
        if (this.roomId === roomId) this.closeAllConnections(err.code || 'failed');
      })
      .finally(() => { this._rejoining = false; });
  }

  _resync() {
    if (this.roomId) this._rejoin();
  }

  // ---- media controls -----------------------------------------------------------------------

  setMicEnabled(on) {
    if (this.audioTrack) this.audioTrack.enabled = on;
    this.sendMediaState();
    return this.micEnabled;
  }

  setCameraEnabled(on) {
    if (this.cameraTrack) this.cameraTrack.enabled = on;
    this.sendMediaState();
    return this.cameraEnabled;
  }

  sendMediaState() {
    if (!this.roomId) return;
    const live = (t) => !!t && t.readyState === 'live' && t.enabled;
    this.client.send('media_state', {
      roomId: this.roomId, audio: live(this.audioTrack), video: live(this.cameraTrack), screen: !!this.screenTrack,
    }).catch(() => {});
  }

  async startScreenShare() {
    if (!this.roomId || this.screenTrack) return;
    const gen = this._gen;
    const stream = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
    const track = stream.getVideoTracks()[0];
    if (gen !== this._gen || !track) return stream.getTracks().forEach((t) => t.stop());
    this.screenTrack = track;
    this.allTracks.add(track);
    track.addEventListener('ended', () => this.stopScreenShare()); // the browser's "Stop sharing"
    for (const peer of this.peers.values()) this._setOutgoingVideo(peer, track);
    this.client._emit('local_stream', { stream: this.previewStream() });
    this.sendMediaState();
  }

  stopScreenShare() {
    const track = this.screenTrack;
    if (!track) return;
    this.screenTrack = null;
    track.stop();
    for (const peer of this.peers.values()) this._setOutgoingVideo(peer, this.cameraTrack);
    this.client._emit('local_stream', { stream: this.previewStream() });
    this.sendMediaState();
  }

  // With a video sender, replaceTrack needs no renegotiation. Without one (receive-only
  // camera), addTrack reuses the recvonly video transceiver and negotiationneeded renegotiates.
  _setOutgoingVideo(peer, track) {
    if (!peer.tracksAttached) return; // the answer path attaches the current tracks itself
    if (peer.videoSender) peer.videoSender.replaceTrack(track).then(() => this._applyCaps()).catch((e) => console.warn('huddle: replaceTrack', e));
    else if (track) peer.videoSender = peer.pc.addTrack(track, this.camStream || new MediaStream([track]));
  }

  /** Switch the camera or microphone to another device (from enumerateDevices) mid-call. */
  async useDevice(kind, deviceId) {
    const old = kind === 'audio' ? this.audioTrack : this.cameraTrack;
    const constraints = { [kind === 'audio' ? 'audio' : 'video']: { deviceId: { exact: deviceId } } };
    const stream = await navigator.mediaDevices.getUserMedia(constraints);
    const track = stream.getTracks()[0];
    if (!track) return;
    if (old) track.enabled = old.enabled;
    this.allTracks.add(track);
    const tracks = (this.camStream?.getTracks() || []).filter((t) => t.kind !== track.kind);
    this.camStream = new MediaStream([...tracks, track]);
    for (const peer of this.peers.values()) {
      const sender = peer.pc.getSenders().find((s) => s.track?.kind === track.kind || (s.track === null && s === peer.videoSender && track.kind === 'video'));
      if (sender && !(track.kind === 'video' && this.screenTrack)) await sender.replaceTrack(track).catch((e) => console.warn('huddle: replaceTrack', e));
    }
    old?.stop();
    this.client._emit('local_stream', { stream: this.previewStream() });
    this._applyCaps();
    this.sendMediaState();
  }

  /** Audio level (0..1) of each remote participant's incoming audio, for speaker highlights. */
  audioLevels() {
    const levels = new Map();
    for (const [id, peer] of this.peers) {
      const r = peer.pc.getReceivers().find((x) => x.track?.kind === 'audio');
      const src = r?.getSynchronizationSources?.()[0];
      if (src && performance.now() - src.timestamp < 1000) levels.set(id, src.audioLevel || 0);
      else levels.set(id, 0);
    }
    return levels;
  }

  // Cap every outgoing video by the number of peers (videoCap). Screen shares keep their
  // resolution (text must stay legible) but obey the bitrate cap.
  _applyCaps() {
    const cap = videoCap(this.peers.size);
    for (const peer of this.peers.values()) {
      const sender = peer.videoSender;
      if (!sender || peer.pc.signalingState === 'closed') continue;
      const params = sender.getParameters();
      if (!params.encodings?.length) continue; // before negotiation: applied again once connected
      const track = sender.track;
      const height = track?.getSettings?.().height || 0;
      const scale = track && track !== this.screenTrack && height > cap.maxHeight ? height / cap.maxHeight : 1;
      const enc = params.encodings[0];
      if (enc.maxBitrate === cap.maxBitrate && (enc.scaleResolutionDownBy || 1) === scale) continue;
      params.encodings = params.encodings.map((e) => ({ ...e, maxBitrate: cap.maxBitrate, scaleResolutionDownBy: scale }));
      sender.setParameters(params).catch((e) => console.debug('huddle: setParameters', e));
    }
  }

  // ---- peer connections ---------------------------------------------------------------------

  _createPeer(userId, user) {
    const pc = new RTCPeerConnection({ iceServers: this.client.iceServers, iceTransportPolicy: this.client.iceTransportPolicy });
    const peer = {
      userId, user, pc,
      polite: String(this.me) < String(userId),
      makingOffer: false, ignoreOffer: false, settingAnswer: false,
      pending: [], // remote candidates that arrived before the remote description
      stream: new MediaStream(),
      videoSender: null, tracksAttached: false,
      chain: Promise.resolve(), // serializes signal handling per peer
    };
    pc.onicecandidate = ({ candidate }) => {
      if (candidate) this._signal(userId, { type: 'candidate', candidate: candidate.toJSON() });
    };
    pc.onnegotiationneeded = async () => {
      try {
        peer.makingOffer = true;
        await pc.setLocalDescription();
        this._signal(userId, { type: pc.localDescription.type, sdp: pc.localDescription.sdp });
      } catch (err) {
        console.warn('huddle: negotiation failed', userId, err);
      } finally {
        peer.makingOffer = false;
      }
    };
    pc.ontrack = ({ track }) => {
      // One track per kind per peer; a fresh MediaStream makes <video> pick the change up.
      const keep = peer.stream.getTracks().filter((t) => t.kind !== track.kind);
      peer.stream = new MediaStream([...keep, track]);
      this.client._emit('remote_stream', { userId, user: peer.user, stream: peer.stream });
    };
    // Only the impolite side restarts ICE (a restart is a renegotiation, so both doing it would
    // collide). It does so on failure, and when a negotiated connection does not come up (lost
    // candidates, or a side that gathered none): restartIce makes both sides gather afresh.
    const restart = (politeToo = false) => {
      if ((!peer.polite || politeToo) && pc.signalingState === 'stable' && pc.connectionState !== 'connected' && pc.connectionState !== 'closed') {
        console.info('huddle: restarting ICE with', userId);
        pc.restartIce(); // → negotiationneeded → offer with new ICE credentials
      }
    };
    pc.onsignalingstatechange = () => {
      clearTimeout(peer.watchdog);
      if (pc.signalingState === 'stable' && pc.connectionState !== 'connected') peer.watchdog = setTimeout(restart, ICE_WATCHDOG_MS);
    };
    pc.onconnectionstatechange = () => {
      this.client._emit('peer_state', { userId, state: pc.connectionState });
      if (pc.connectionState === 'connected') {
        clearTimeout(peer.watchdog);
        this._applyCaps();
      }
      clearTimeout(peer.iceTimer);
      // failed: restart now (impolite side), and from the polite side too if the impolite one
      // did not (it may be the one whose network broke). disconnected often heals by itself
      // within seconds; if not, restart before the browser declares failure (~30 s).
      if (pc.connectionState === 'failed') {
        restart();
        peer.iceTimer = setTimeout(() => pc.connectionState === 'failed' && restart(true), ICE_POLITE_RESTART_MS);
      } else if (pc.connectionState === 'disconnected') {
        peer.iceTimer = setTimeout(() => restart(), ICE_DISCONNECTED_MS);
      }
    };
    this.peers.set(userId, peer);
    this.client._emit('peer_state', { userId, user, state: 'new' });
    this._applyCaps(); // one more peer: every other copy gets a smaller budget
    return peer;
  }

  // The offerer adds recvonly transceivers for missing kinds so it always receives audio and
  // video; the answerer reuses the transceivers the offer created.
  _attachLocalTracks(peer, offerer) {
    const stream = this.camStream || new MediaStream();
    const audio = this.audioTrack;
    const video = this.outgoingVideo;
    if (audio) peer.pc.addTrack(audio, stream);
    else if (offerer) peer.pc.addTransceiver('audio', { direction: 'recvonly' });
    if (video) peer.videoSender = peer.pc.addTrack(video, stream);
    else if (offerer) peer.pc.addTransceiver('video', { direction: 'recvonly' });
    peer.tracksAttached = true;
    this._applyCaps();
  }

  _signal(targetId, payload) {
    if (!this.roomId) return;
    this.client.send('video-signal', { roomId: this.roomId, targetId, ...payload }).catch(() => {});
  }

  _handle(event, d) {
    if (!d || typeof d !== 'object') return;
    const inRoom = this.roomId && d.roomId === this.roomId;
    switch (event) {
      case 'meeting_user_joined': {
        const uid = d.user?.id;
        if (!inRoom || !uid || uid === this.me) return;
        // Before our own meeting_joined, this join was processed before ours: that participant
        // is told about our join too and offers to us. Offering as well would double the
        // connections (both reloading at once), so the joiner only answers.
        if (this._joining === this.roomId) return;
        this._closePeer(uid); // a rejoin (or any repeat): the old connection is dead
        this._attachLocalTracks(this._createPeer(uid, d.user), true); // → negotiationneeded → offer
        return;
      }
      case 'meeting_user_left':
        if (!inRoom) return;
        if (d.user?.id === this.me) this._rejoin(); // the grace ran out while we were away
        else {
          this._expected?.delete(d.user?.id);
          this._closePeer(d.user?.id);
        }
        return;
      case 'video-signal':
        if (inRoom) this._onSignal(d);
        return;
      case 'meeting_ended':
        if (inRoom) this.closeAllConnections('ended');
        return;
      case 'meeting_invitation':
        if (inRoom && d.status === 'inactive') this.closeAllConnections('ended');
        return;
      case 'meeting_host_changed':
        if (inRoom) this._setHost(d.host?.id === this.me);
        return;
      case 'meeting_started':
        if (inRoom) this._setHost(true);
        return;
      case 'meeting_joined':
        if (inRoom) this._joining = null;
        return;
    }
  }

  _onSignal(d) {
    const from = d.senderId;
    if (!from || from === this.me) return;
    let peer = this.peers.get(from);
    if (!peer) {
      if (d.type !== 'offer') return; // an answer/candidate for a connection we no longer have
      peer = this._createPeer(from, { id: from });
    }
    const run = d.type === 'candidate'
      ? () => this._onCandidate(peer, d.candidate)
      : () => this._onDescription(peer, { type: d.type, sdp: d.sdp });
    peer.chain = peer.chain.then(run).catch((err) => console.warn('huddle: signal', d.type, from, err));
  }

  // Perfect negotiation (https://w3c.github.io/webrtc-pc/#perfect-negotiation-example).
  async _onDescription(peer, desc) {
    const { pc } = peer;
    if (pc.signalingState === 'closed') return;
    if (desc.type === 'offer' && pc.remoteDescription
        && fingerprint(desc.sdp) !== fingerprint(pc.remoteDescription.sdp)) {
      // A new DTLS certificate: the remote replaced its connection (reload or a rejoin race).
      // Renegotiating the old one cannot work, so follow it with a fresh connection.
      this._closePeer(peer.userId);
      const fresh = this._createPeer(peer.userId, peer.user);
      fresh.chain = fresh.chain.then(() => this._onDescription(fresh, desc))
        .catch((err) => console.warn('huddle: signal offer', peer.userId, err));
      return;
    }
    const readyForOffer = !peer.makingOffer && (pc.signalingState === 'stable' || peer.settingAnswer);
    const collision = desc.type === 'offer' && !readyForOffer;
    peer.ignoreOffer = !peer.polite && collision;
    if (peer.ignoreOffer) return; // impolite: our offer wins, theirs is dropped
    if (desc.type === 'answer' && pc.signalingState !== 'have-local-offer') return; // stale
    // Polite side of a collision: setRemoteDescription(offer) rolls our offer back implicitly,
    // in one operation. (An explicit rollback first lets negotiationneeded fire in between and
    // send a second offer.)
    peer.settingAnswer = desc.type === 'answer';
    try {
      await pc.setRemoteDescription(desc);
    } finally {
      peer.settingAnswer = false;
    }
    for (const c of peer.pending.splice(0)) await this._addCandidate(peer, c);
    if (desc.type === 'offer') {
      if (!peer.tracksAttached) this._attachLocalTracks(peer, false);
      await pc.setLocalDescription();
      this._signal(peer.userId, { type: 'answer', sdp: pc.localDescription.sdp });
      this._applyCaps();
    }
  }

  async _onCandidate(peer, candidate) {
    if (!candidate || peer.pc.signalingState === 'closed') return;
    if (!peer.pc.remoteDescription) peer.pending.push(candidate);
    else await this._addCandidate(peer, candidate);
  }

  async _addCandidate(peer, candidate) {
    try {
      await peer.pc.addIceCandidate(candidate);
    } catch (err) {
      if (!peer.ignoreOffer) console.debug('huddle: addIceCandidate', err);
    }
  }
}
