import { Emitter } from './emitter.js';
import { HuddleError } from './errors.js';
import type {
  ClientEventName,
  ClientEvents,
  HistoryEvent,
  IceServer,
  Limits,
  Message,
  PresenceSnapshotEvent,
  PresenceStatus,
  ReplyOf,
  RequestName,
  RoomInfoEvent,
  RoomJoinedEvent,
  RoomRef,
  ServerEventName,
  ServerEvents,
  SessionEvent,
  User,
} from './protocol.js';
import { ChatTracker, RESYNC_PAGE, type ResyncReport } from './resync.js';
import { defaultStorage, type ResumeStorage } from './storage.js';
import { jwtSubject, uuid } from './util.js';

/**
 * The connection's state:
 * - `idle`: never connected;
 * - `connecting`: the first connection (after connect()) is being made;
 * - `open`: a session is live;
 * - `reconnecting`: the connection was lost; the client retries with backoff (retryNow() skips
 *   the wait) and resumes its session;
 * - `closed`: closed by close(), by the server (1000, 1008), or refused credentials.
 */
export type ConnectionState = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed';

/**
 * How the client signs in (PROTOCOL.md §1): a JWT, or with a server in dev mode a user id and
 * display name, or a display name alone (the server derives the id).
 */
export type Credentials = { token: string } | { user: string; name?: string } | { name: string };

/** The part of the WebSocket API the client uses (browsers', Node's, or the `ws` package's). */
export interface WebSocketLike {
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

export interface ClientOptions {
  /**
   * The WebSocket endpoint: absolute (`wss://host/ws`, or `https://host/ws`, converted) or, in
   * a page, relative to it. Default `/ws` on the page's host.
   */
  url?: string;
  /**
   * Where the resume token and last seq are kept: a page's sessionStorage by default, so a
   * reload resumes; memory elsewhere.
   */
  storage?: ResumeStorage;
  /** How long a request waits for its reply once sent. Default 10 s. */
  requestTimeoutMs?: number;
  /** The client pings this often to notice a dead connection. Default 25 s. */
  pingIntervalMs?: number;
  /** A ping unanswered for this long drops the connection (then it reconnects). Default 10 s. */
  pingTimeoutMs?: number;
  /** The first reconnect delay ceiling; it doubles per failed attempt. Default 250 ms. */
  minBackoffMs?: number;
  /** The largest reconnect delay. Default 10 s. */
  maxBackoffMs?: number;
  /**
   * Re-sync chat after a refused resume (PROTOCOL.md §4): fetch, for every room the client saw
   * messages of, those after the last one, deliver them as `message` events and report with
   * `resynced`. Default true.
   */
  resync?: boolean;
  /** The most messages one room's re-sync fetches. Default 1000. */
  resyncLimit?: number;
  /**
   * Close the socket when the page is hidden into the back/forward cache (pagehide; code 4001
   * keeps the session resumable) and resume on pageshow; reconnect at once when the browser
   * goes online. Default true where there is a window.
   */
  pageLifecycle?: boolean;
  /** The WebSocket implementation. Default globalThis.WebSocket. */
  WebSocket?: WebSocketConstructor;
  /** The fetch used to tell refused credentials from a server that is down. Default globalThis.fetch. */
  fetch?: typeof fetch;
}

/** Events of the client itself, besides the server's. */
export interface LocalEvents {
  /** The connection state changed; `retryInMs` while a reconnect is scheduled. */
  state: { state: ConnectionState; retryInMs?: number };
  /** A socket closed (any reason); the client may reconnect. */
  disconnected: { code: number; reason: string };
  /**
   * A fresh session replaced the one the client had (the resume was refused: server restart,
   * dead node, window passed). Whatever the application shows may be stale: re-read it. The
   * client re-syncs chat itself (`resynced`).
   */
  resync: SessionEvent;
  /** A room's chat re-sync finished. */
  resynced: ResyncReport;
  /**
   * The client is up to date: right after a fresh session, or once the replay of a resumed one
   * ended (`resumed`). `woke`: the first session after wake() (a page back from the cache).
   */
  synced: { resumed: boolean; woke: boolean };
  /** The credentials were refused (HTTP 401/403, or closed 1008 or 4xxx): the client is closed. */
  auth_failed: { code: number; reason: string };
}

/** Every event a HuddleClient emits: the server's (PROTOCOL.md) and its own. */
export type HuddleEvents = ServerEvents & LocalEvents;

export interface RequestOptions<T> {
  /** How long to wait for the reply once sent. Default: the client's requestTimeoutMs. */
  timeoutMs?: number;
  /** The reply's event name, for a reply without the request's ref. Default: Replies[event]. */
  reply?: ServerEventName;
  /** For a reply without the request's ref: which event of that name is the reply. */
  match?: (data: T) => boolean;
}

/** Events that are stale by the time a reconnect could send them: dropped while offline. */
const EPHEMERAL = new Set<string>(['typing', 'ping']);
/**
 * Requests that may be sent again when the connection they were written on was lost with no
 * answer: the server applies them once however often they come (a message with its
 * clientMsgId) or they only read.
 */
const RETRY_SAFE = new Set<string>(['message', 'join_room', 'get_history', 'get_rooms', 'get_presence', 'get_room_info', 'add_member']);
const OUTBOX_MAX = 200;
const AUTH_FAILURES = 3; // failed sockets without a session before the credentials are checked
const RESUMED_FALLBACK_MS = 5_000; // 'synced' even if `resumed` never comes

interface Pending {
  ref: string;
  frame: { event: string; data: unknown; ref: string };
  reply: string | undefined;
  match: ((d: any) => boolean) | undefined;
  timeoutMs: number;
  internal: boolean; // the client's own (ping, re-sync): its reply is not emitted
  socket: number; // the socket it was written on (0: not yet)
  resolve: (v: any) => void;
  reject: (e: HuddleError) => void;
  timer?: ReturnType<typeof setTimeout>;
}

// Default matchers for replies the server sends without the request's ref.
function defaultMatch(event: string, data: any): ((d: any) => boolean) | undefined {
  switch (event) {
    case 'message':
      return (d) => d?.clientMsgId === data?.clientMsgId && d?.roomId === data?.roomId;
    case 'start_meeting':
      return (d) => d?.roomId === data?.roomId;
    case 'stop_meeting':
      return (d) => d?.roomId === data?.roomId && d?.status === 'inactive';
  }
  return undefined;
}

const REPLIES: Record<string, ServerEventName> = {
  join_room: 'room_joined',
  leave_room: 'room_left',
  add_member: 'member_added',
  message: 'message',
  get_history: 'history',
  get_rooms: 'rooms',
  get_presence: 'presence_snapshot',
  start_meeting: 'meeting_started',
  get_room_info: 'room_info_response',
  join_meeting: 'meeting_joined',
  stop_meeting: 'meeting_invitation',
  ping: 'pong',
};

function wsURL(url: string | undefined): string {
  const base = (globalThis as { location?: { href: string } }).location?.href;
  const u = new URL(url ?? '/ws', base);
  if (u.protocol === 'http:') u.protocol = 'ws:';
  if (u.protocol === 'https:') u.protocol = 'wss:';
  u.search = '';
  u.hash = '';
  return u.href;
}

function identityOf(c: Credentials): string {
  if ('token' in c) return jwtSubject(c.token) ?? 'token';
  if ('user' in c && c.user) return c.user;
  return `name:${(c as { name: string }).name.normalize('NFC')}`;
}

/**
 * HuddleClient speaks Huddle's protocol over one WebSocket: typed events and requests, refs
 * matched to replies, reconnect with backoff, resume with the last seq processed (so every
 * replayable event is delivered once, in order, across network loss and page reloads), and a
 * chat re-sync when a resume is refused.
 *
 *     const client = new HuddleClient({ url: 'wss://chat.example.com/ws' });
 *     client.on('message', (m) => console.log(m.sender.username, m.content));
 *     client.connect({ token });
 *     await client.joinRoom('lobby');
 *     await client.sendMessage('lobby', 'hello');
 */
export class HuddleClient extends Emitter<HuddleEvents> {
  /** The endpoint, as a ws:// or wss:// URL without query. */
  readonly url: string;
  /** The connection state; `state` events announce changes. */
  state: ConnectionState = 'idle';
  /** The signed-in user, from the last `session`. */
  user: User | null = null;
  sessionId: string | null = null;
  /** ICE servers for RTCPeerConnection, from the last `session`. */
  iceServers: IceServer[] = [];
  limits: Partial<Limits> = {};
  credentials: Credentials | null = null;

  private readonly storage: ResumeStorage;
  private readonly opts: Required<Pick<ClientOptions, 'requestTimeoutMs' | 'pingIntervalMs' | 'pingTimeoutMs' | 'minBackoffMs' | 'maxBackoffMs' | 'resync' | 'resyncLimit' | 'pageLifecycle'>>;
  private readonly WS: WebSocketConstructor | undefined;
  private readonly fetchFn: typeof fetch | undefined;
  private readonly chat: ChatTracker;

  private ws: WebSocketLike | null = null;
  private socketN = 0; // numbers sockets, for Pending.socket
  private ready = false; // a `session` arrived on the current socket
  private hadSession = false; // since connect()
  private replaced = false; // the current session is a fresh one that replaced another
  private refN = 0;
  // Refs are unique per client instance: a resumed session replays replies that carry the
  // refs of a page before its reload, and those must not settle this page's requests.
  private readonly refPrefix = Math.random().toString(36).slice(2, 7) + '-';
  private readonly pending = new Map<string, Pending>();
  private outbox: Pending[] = [];
  private lastSeq = 0;
  private key = '';
  private attempt = 0;
  private failures = 0;
  private stopped = true;
  private suspended = false;
  private woke = false;
  private resumeAttempted = false;
  private resumeDropped = false;
  private gen = 0; // bumped by connect() and close(): stale async work checks it
  private resyncGen = 0;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private pingTimer: ReturnType<typeof setInterval> | undefined;
  private syncTimer: ReturnType<typeof setTimeout> | undefined;
  private detachPage: (() => void) | null = null;

  constructor(options: ClientOptions = {}) {
    super();
    this.url = wsURL(options.url);
    this.storage = options.storage ?? defaultStorage();
    const g = globalThis as { WebSocket?: WebSocketConstructor; fetch?: typeof fetch; addEventListener?: unknown; document?: unknown };
    this.WS = options.WebSocket ?? g.WebSocket;
    this.fetchFn = options.fetch ?? (g.fetch ? g.fetch.bind(globalThis) : undefined);
    this.opts = {
      requestTimeoutMs: options.requestTimeoutMs ?? 10_000,
      pingIntervalMs: options.pingIntervalMs ?? 25_000,
      pingTimeoutMs: options.pingTimeoutMs ?? 10_000,
      minBackoffMs: options.minBackoffMs ?? 250,
      maxBackoffMs: options.maxBackoffMs ?? 10_000,
      resync: options.resync ?? true,
      resyncLimit: options.resyncLimit ?? 1000,
      pageLifecycle: options.pageLifecycle ?? (typeof g.addEventListener === 'function' && g.document !== undefined),
    };
    this.chat = new ChatTracker(this.opts.resyncLimit);
  }

  // ---- connection ------------------------------------------------------------------------------

  /**
   * Connect (and keep connected) with these credentials. A session stored for the same user
   * (in `storage`) is resumed. Calling it again switches users.
   */
  connect(credentials: Credentials): void {
    const c = credentials as { token?: string; user?: string; name?: string };
    if (!c || !(c.token || c.user || c.name)) throw new TypeError('connect: need {token}, {user, name?} or {name}');
    this.close({ forget: false });
    this.credentials = credentials;
    this.key = `huddle.resume.${identityOf(credentials)}`;
    this.lastSeq = this.loadResume()?.seq ?? 0;
    this.stopped = false;
    this.hadSession = false;
    this.failures = 0;
    this.attempt = 0;
    this.resumeDropped = false;
    if (this.opts.pageLifecycle) this.watchPage();
    this.open();
  }

  /**
   * Close the connection (code 1000: the session ends at once) and stop reconnecting. Pending
   * requests reject with `closed`. With `forget` (the default) the stored resume token is
   * dropped too.
   */
  close({ forget = true }: { forget?: boolean } = {}): void {
    this.stopped = true;
    this.suspended = false;
    this.gen++;
    clearTimeout(this.syncTimer);
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    this.stopPing();
    this.detachPage?.();
    this.detachPage = null;
    const ws = this.ws;
    if (ws) {
      this.detach(ws);
      try {
        ws.close(1000, 'bye');
      } catch {
        // already closed
      }
    }
    this.ready = false;
    for (const p of [...this.pending.values()]) this.settle(p, undefined, new HuddleError('closed', 'client closed'));
    this.outbox = [];
    if (forget && this.key) this.storage.removeItem(this.key);
    if (this.state !== 'idle') this.setState('closed');
  }

  /** While a reconnect waits for its backoff: try now. */
  retryNow(): void {
    if (this.stopped || this.suspended || this.reconnectTimer === undefined) return;
    this.attempt = 0;
    this.open();
  }

  /**
   * Close the socket but keep the session resumable (code 4001), e.g. for a page going into the
   * back/forward cache: co-members see the user offline once the resume window passes.
   * wake() reconnects and resumes.
   */
  suspend(): void {
    if (this.stopped || this.suspended) return;
    this.suspended = true;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    this.stopPing();
    const ws = this.ws;
    if (ws) {
      this.detach(ws);
      try {
        ws.close(4001, 'page hidden');
      } catch {
        // already closed
      }
    }
    this.ready = false;
    this.setState('reconnecting');
  }

  /** Reconnect after suspend(), resuming the session (or re-syncing when that is refused). */
  wake(): void {
    if (!this.suspended) return;
    this.suspended = false;
    if (this.stopped) return;
    this.attempt = 0;
    this.woke = true;
    this.open();
  }

  /** @internal the browser tests' name for suspend() */
  _pageHidden(): void {
    this.suspend();
  }

  /** @internal the browser tests' name for wake() */
  _pageShown(): void {
    this.wake();
  }

  private watchPage(): void {
    this.detachPage?.();
    const g = globalThis as unknown as EventTarget;
    const online = () => this.retryNow();
    const hide = () => this.suspend();
    const show = (e: Event) => {
      if ((e as PageTransitionEvent).persisted) this.wake();
    };
    g.addEventListener('online', online);
    g.addEventListener('pagehide', hide);
    g.addEventListener('pageshow', show);
    this.detachPage = () => {
      g.removeEventListener('online', online);
      g.removeEventListener('pagehide', hide);
      g.removeEventListener('pageshow', show);
    };
  }

  private setState(state: ConnectionState, retryInMs?: number): void {
    if (this.state === state && retryInMs === undefined) return;
    this.state = state;
    this.emit('state', retryInMs === undefined ? { state } : { state, retryInMs });
  }

  private loadResume(): { token: string; seq: number } | null {
    try {
      const v = JSON.parse(this.storage.getItem(this.key) || 'null');
      return v && typeof v.token === 'string' ? { token: v.token, seq: Number(v.seq) || 0 } : null;
    } catch {
      return null;
    }
  }

  private saveResume(token: string | undefined): void {
    if (!token) return;
    try {
      this.storage.setItem(this.key, JSON.stringify({ token, seq: this.lastSeq }));
    } catch {
      // storage full or disabled: a resume just won't happen
    }
  }

  private params(withResume: boolean): URLSearchParams {
    const p = new URLSearchParams({ codec: 'json' });
    const c = this.credentials as { token?: string; user?: string; name?: string };
    if (c.token) p.set('token', c.token);
    else {
      if (c.user) p.set('user', c.user);
      if (c.name) p.set('name', c.name.normalize('NFC'));
    }
    const saved = withResume ? this.loadResume() : null;
    if (saved) {
      p.set('resume', saved.token);
      p.set('lastSeq', String(this.lastSeq));
    }
    return p;
  }

  private open(): void {
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    if (this.stopped || this.suspended) return;
    if (this.ws) this.detach(this.ws);
    this.ready = false;
    const params = this.params(true);
    this.resumeAttempted = params.has('resume');
    this.setState(this.hadSession ? 'reconnecting' : 'connecting');
    if (!this.WS) throw new Error('HuddleClient: no WebSocket implementation (pass options.WebSocket; Node 20 needs --experimental-websocket)');
    let ws: WebSocketLike;
    try {
      // The codec goes in the query, not as a subprotocol: browsers fail the handshake when a
      // server does not echo an offered subprotocol.
      ws = new this.WS(`${this.url}?${params}`);
    } catch {
      this.scheduleReconnect(false);
      return;
    }
    this.ws = ws;
    this.socketN++;
    ws.onmessage = (e) => this.onFrame(e.data);
    ws.onclose = (e) => this.onClose(ws, e.code, e.reason);
    // Browsers follow an error with a close event; Node's WebSocket (undici) does not after a
    // refused handshake. The first of the two counts: onClose detaches the socket.
    ws.onerror = () => void this.onClose(ws, 1006, 'error');
  }

  private detach(ws: WebSocketLike): void {
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    if (this.ws === ws) this.ws = null;
  }

  // Drop a socket that looks dead (no pong) and reconnect as if it had closed abnormally.
  private abandon(reason: string): void {
    const ws = this.ws;
    if (!ws) return;
    this.detach(ws);
    try {
      ws.close();
    } catch {
      // ignore
    }
    void this.onClose(ws, 1006, reason, true);
  }

  private async onClose(ws: WebSocketLike, code: number, reason: string, abandoned = false): Promise<void> {
    if (!abandoned && ws !== this.ws) return;
    if (this.ws === ws) this.detach(ws);
    const hadSession = this.ready;
    this.ready = false;
    this.stopPing();
    clearTimeout(this.syncTimer);
    this.syncTimer = undefined;
    this.emit('disconnected', { code, reason });
    if (this.stopped) return this.setState('closed');
    if (this.suspended) return;
    // 1000: the server ended the session; 1008: policy (expired token, flood, too many
    // sessions); 4xxx: application codes. Retrying does not help.
    if (code === 1000 || code === 1008 || (code >= 4000 && code < 5000)) {
      this.stopped = true;
      this.detachPage?.();
      this.setState('closed');
      if (code !== 1000) this.emit('auth_failed', { code, reason });
      return;
    }
    // A socket that failed before its `session` while offering a resume token may have been
    // refused for the token (a restarted server signs with another secret: HTTP 401), so ask
    // at once; without a token, after a few failures.
    if (hadSession) this.failures = 0;
    else if (++this.failures >= AUTH_FAILURES || this.resumeAttempted) {
      const gen = this.gen;
      const goOn = await this.probeAuth();
      if (!goOn || gen !== this.gen || this.suspended) return;
    }
    this.scheduleReconnect(code === 1012 || code === 1013);
  }

  // A refused upgrade (HTTP 401) is invisible to WebSocket code, so ask the endpoint over HTTP.
  // 401/403 with the resume token and without it: the credentials are refused. 401 with the
  // token only: the token is (a restarted server signs with another secret): drop it. Any
  // other answer: the server takes both, so the failure was passing. A network error: the
  // server is down; keep trying. Returns false when it gave up.
  private async probeAuth(): Promise<boolean> {
    const withResume = !!this.loadResume();
    let status = await this.probe(withResume);
    if (this.stopped) return false;
    if ((status === 401 || status === 403) && withResume) {
      const plain = await this.probe(false);
      if (this.stopped) return false;
      if (plain !== 401 && plain !== 403) {
        if (plain) {
          this.storage.removeItem(this.key);
          this.resumeDropped = true;
          this.failures = 0;
        }
        return true;
      }
      status = plain;
    }
    if (status === 401 || status === 403) {
      this.stopped = true;
      this.detachPage?.();
      this.setState('closed');
      this.emit('auth_failed', { code: status, reason: 'unauthorized' });
      for (const p of [...this.pending.values()]) this.settle(p, undefined, new HuddleError('unauthorized', 'credentials refused'));
      this.outbox = [];
      return false;
    }
    return true;
  }

  // The HTTP status of the endpoint for a plain GET with the credentials (0: unreachable).
  private async probe(withResume: boolean): Promise<number> {
    if (!this.fetchFn) return 0;
    try {
      const res = await this.fetchFn(`${this.url.replace(/^ws/, 'http')}?${this.params(withResume)}`, { cache: 'no-store' });
      void res.body?.cancel().catch(() => {});
      return res.status;
    } catch {
      return 0;
    }
  }

  private scheduleReconnect(quick: boolean): void {
    clearTimeout(this.reconnectTimer);
    let delay: number;
    if (quick) delay = 100 + Math.random() * 400; // server restart or slow consumer: come back soon
    else {
      const ceiling = Math.min(this.opts.maxBackoffMs, this.opts.minBackoffMs * 2 ** this.attempt++);
      delay = ceiling / 2 + Math.random() * (ceiling / 2); // "equal jitter"
    }
    this.setState(this.hadSession ? 'reconnecting' : 'connecting', Math.round(delay));
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.open();
    }, delay);
  }

  private startPing(): void {
    this.stopPing();
    this.pingTimer = setInterval(() => {
      this.call('ping', {}, { internal: true, timeoutMs: this.opts.pingTimeoutMs, expectReply: true }).catch((err: HuddleError) => {
        // Any answer (even an error) proves the socket alive; only silence is fatal.
        if (err.code === 'timeout') this.abandon('ping timeout');
      });
    }, this.opts.pingIntervalMs);
  }

  private stopPing(): void {
    clearInterval(this.pingTimer);
    this.pingTimer = undefined;
  }

  // ---- frames ----------------------------------------------------------------------------------

  private onFrame(raw: unknown): void {
    if (typeof raw !== 'string') return; // binary codecs are not spoken here
    let frame: { event?: unknown; data?: unknown; payload?: unknown; ref?: unknown; seq?: unknown };
    try {
      frame = JSON.parse(raw);
    } catch {
      return;
    }
    const event = frame?.event;
    if (typeof event !== 'string') return;
    const data: any = frame.data !== undefined ? frame.data : frame.payload;
    const seq = typeof frame.seq === 'number' ? frame.seq : null;
    const fresh = event === 'session' && data?.resumed !== true;
    if (event === 'session') this.onSession(data ?? {});
    else if (seq !== null && seq <= this.lastSeq) return; // processed already (replay overlap)
    if (seq !== null && seq > this.lastSeq) {
      this.lastSeq = seq;
      this.saveResume(this.resumeToken);
    }

    let ref = typeof frame.ref === 'string' ? frame.ref : undefined;
    if (event === 'error' && ref === undefined && typeof data?.ref === 'string') ref = data.ref;
    const internal = this.settleReply(event, data, ref);

    if (event === 'message' && data && !internal) {
      if (this.opts.resync && !this.chat.onMessage(data)) return; // a duplicate, or held back
    } else if (event === 'history' && !internal) this.chat.onHistory(data);
    else if (event === 'room_left' && typeof data?.roomId === 'string') this.chat.onRoomLeft(data.roomId);
    if (!internal) this.emit(event as ServerEventName, event === 'error' && ref !== undefined ? { ...data, ref } : data);

    if (fresh) this.afterFreshSession(data);
    if (event === 'resumed') this.afterReplay();
  }

  /** The resume token of the current session. */
  resumeToken: string | undefined;

  private onSession(d: SessionEvent): void {
    this.sessionId = d.sessionId ?? null;
    this.user = d.user ?? this.user;
    this.iceServers = Array.isArray(d.iceServers) ? d.iceServers : [];
    this.limits = d.limits ?? {};
    this.resumeToken = d.resumeToken;
    if (d.resumed !== true) this.lastSeq = 0; // seq numbers are per session
    // A fresh session after one this client had (or tried to resume) replaced it.
    this.replaced = d.resumed !== true && (this.hadSession || this.resumeAttempted || this.resumeDropped);
    this.hadSession = true;
    this.resumeDropped = false;
    this.saveResume(d.resumeToken);
    this.ready = true;
    this.failures = 0;
    this.attempt = 0;
    // A ping on the lost connection is answered by no replay (pong is ephemeral): settle it now,
    // or its timeout would drop this healthy connection.
    for (const p of [...this.pending.values()]) {
      if (p.frame.event === 'ping' && p.socket !== 0 && p.socket !== this.socketN) this.settle(p, undefined, new HuddleError('disconnected', 'ping: the connection was lost'));
    }
    this.setState('open');
    this.startPing();
    clearTimeout(this.syncTimer);
    this.syncTimer = undefined;
    if (d.resumed === true) this.syncTimer = setTimeout(() => this.afterReplay(), RESUMED_FALLBACK_MS);
  }

  // After the `session` of a fresh session has been emitted.
  private afterFreshSession(d: SessionEvent): void {
    // Requests written on a lost connection got no answer and never will: send again those the
    // server applies once however often they come; fail the others.
    for (const p of [...this.pending.values()]) {
      if (p.socket === 0 || p.socket === this.socketN) continue;
      if (!p.internal && RETRY_SAFE.has(p.frame.event)) this.write(p);
      else this.settle(p, undefined, new HuddleError('disconnected', `${p.frame.event}: the connection was lost`));
    }
    this.flush();
    if (this.replaced) {
      this.emit('resync', d);
      if (this.opts.resync) this.startResync();
    }
    const woke = this.woke;
    this.woke = false;
    this.emit('synced', { resumed: false, woke });
  }

  // After the replay of a resumed session (or its fallback timer).
  private afterReplay(): void {
    if (this.syncTimer === undefined) return; // done already
    clearTimeout(this.syncTimer);
    this.syncTimer = undefined;
    // Anything the old connection was answered for has been replayed by now; a retry-safe
    // request still waiting may never have reached the server: send it again.
    for (const p of [...this.pending.values()]) {
      if (p.socket !== 0 && p.socket !== this.socketN && !p.internal && RETRY_SAFE.has(p.frame.event)) this.write(p);
    }
    this.flush();
    const woke = this.woke;
    this.woke = false;
    this.emit('synced', { resumed: true, woke });
  }

  private flush(): void {
    const queued = this.outbox.splice(0);
    for (const p of queued) this.write(p);
  }

  // Settles the request a reply answers; returns whether that request was the client's own.
  private settleReply(event: string, data: any, ref: string | undefined): boolean {
    let entry: Pending | undefined;
    if (ref !== undefined) entry = this.pending.get(ref);
    if (!entry && event !== 'error') {
      for (const p of this.pending.values()) {
        if (p.socket !== 0 && p.reply === event && p.match && p.match(data)) {
          entry = p;
          break;
        }
      }
    }
    if (!entry) return false;
    if (event === 'error') this.settle(entry, undefined, new HuddleError(data?.code ?? 'internal', data?.message, { event: data?.event, ref }));
    else this.settle(entry, data);
    return entry.internal;
  }

  private settle(p: Pending, value: unknown, err?: HuddleError): void {
    clearTimeout(p.timer);
    this.pending.delete(p.ref);
    const i = this.outbox.indexOf(p);
    if (i >= 0) this.outbox.splice(i, 1);
    if (err) p.reject(err);
    else p.resolve(value);
  }

  private write(p: Pending): void {
    clearTimeout(p.timer);
    try {
      this.ws!.send(JSON.stringify(p.frame));
    } catch {
      // the socket is closing: queued for the next session
      p.socket = 0;
      this.outbox.push(p);
      return;
    }
    p.socket = this.socketN;
    p.timer = setTimeout(() => this.settle(p, undefined, new HuddleError('timeout', `${p.frame.event}: no reply within ${p.timeoutMs} ms`)), p.timeoutMs);
  }

  // ---- chat re-sync ----------------------------------------------------------------------------

  private startResync(): void {
    const gen = ++this.resyncGen;
    for (const { roomId, after } of this.chat.start()) this.resyncPage(gen, roomId, after);
  }

  private resyncPage(gen: number, roomId: string, after: string): void {
    this.call('get_history', { roomId, after, limit: RESYNC_PAGE }, { internal: true, expectReply: true, timeoutMs: this.opts.requestTimeoutMs })
      .then((h) => {
        if (gen !== this.resyncGen) return;
        const out = this.chat.page(roomId, h as HistoryEvent);
        this.deliverResync(out.deliver, out.report);
        if (out.next !== undefined) this.resyncPage(gen, roomId, out.next);
      })
      .catch((err: HuddleError) => {
        // A lost connection: the next fresh session starts again from the cursor (a resumed
        // one leaves the room held until then). A refusal ends the room's re-sync.
        if (gen !== this.resyncGen || err.code === 'disconnected' || err.code === 'closed') return;
        if (err.code === 'timeout' && this.state !== 'open') return;
        const out = this.chat.fail(roomId, err.code);
        this.deliverResync(out.deliver, out.report);
      });
  }

  private deliverResync(messages: Message[], report: ResyncReport | undefined): void {
    for (const m of messages) this.emit('message', m);
    if (report) this.emit('resynced', report);
  }

  // ---- sending ---------------------------------------------------------------------------------

  /**
   * Send an event without waiting for a reply. While reconnecting, it is queued and sent once
   * the session is back, except `typing` and `ping`, which would be stale: those are dropped.
   * An `error` the server answers with comes as an `error` event with the frame's ref.
   * Returns the frame's ref, or null when it was dropped.
   */
  send<E extends ClientEventName>(event: E, data: ClientEvents[E]): string | null;
  /** Send an event this client has no type for (a server extension). */
  send<N extends string>(event: N extends ClientEventName ? never : N, data?: unknown): string | null;
  send(event: string, data: unknown = {}): string | null {
    if (this.stopped || (!this.ready && (EPHEMERAL.has(event) || this.outbox.length >= OUTBOX_MAX))) return null;
    const ref = this.nextRef();
    const frame = { event, data, ref };
    if (this.ready) {
      try {
        this.ws!.send(JSON.stringify(frame));
      } catch {
        return null;
      }
    } else {
      // queued as a request whose outcome nobody awaits
      const p = this.pendingFor(frame, { internal: false, expectReply: false, timeoutMs: this.opts.requestTimeoutMs }, () => {}, () => {});
      this.outbox.push(p);
      this.pending.set(ref, p);
    }
    return ref;
  }

  /**
   * Send a request and resolve with its reply (PROTOCOL.md: `join_room` → `room_joined`,
   * `get_history` → `history`, …), or reject with a HuddleError: the server's `error` for it
   * (`forbidden`, `not_found`, …), `timeout`, `disconnected` or `closed`. While reconnecting,
   * the request waits for the session to come back; the timeout counts once it is sent.
   * A `message` without `clientMsgId` gets one, so that it can be sent again safely.
   */
  request<E extends RequestName>(event: E, data: ClientEvents[E], opts?: RequestOptions<ReplyOf<E>>): Promise<ReplyOf<E>>;
  /** A request this client has no type for: name the reply event. */
  request<R extends ServerEventName, N extends string>(
    event: N extends RequestName ? never : N,
    data: unknown,
    opts: RequestOptions<ServerEvents[R]> & { reply: R },
  ): Promise<ServerEvents[R]>;
  request(event: string, data: unknown = {}, opts: RequestOptions<any> = {}): Promise<unknown> {
    if (event === 'message' && data && typeof data === 'object' && !(data as { clientMsgId?: string }).clientMsgId) {
      data = { ...data, clientMsgId: uuid() };
    }
    return this.call(event, data, { ...opts, internal: false, expectReply: true });
  }

  private nextRef(): string {
    return this.refPrefix + ++this.refN;
  }

  private pendingFor(
    frame: { event: string; data: unknown; ref: string },
    o: RequestOptions<any> & { internal: boolean; expectReply: boolean },
    resolve: (v: unknown) => void,
    reject: (e: HuddleError) => void,
  ): Pending {
    const reply = o.reply ?? REPLIES[frame.event];
    return {
      ref: frame.ref,
      frame,
      reply,
      match: o.match ?? (reply === REPLIES[frame.event] ? defaultMatch(frame.event, frame.data) : undefined),
      timeoutMs: o.timeoutMs ?? this.opts.requestTimeoutMs,
      internal: o.internal,
      socket: 0,
      resolve: o.expectReply ? resolve : () => resolve(undefined),
      reject,
    };
  }

  private call(event: string, data: unknown, o: RequestOptions<any> & { internal: boolean; expectReply: boolean }): Promise<any> {
    return new Promise((resolve, reject) => {
      if (this.stopped) return reject(new HuddleError('closed', `${event}: the client is closed`));
      if (!this.ready && (EPHEMERAL.has(event) || this.outbox.length >= OUTBOX_MAX)) {
        return reject(new HuddleError('disconnected', `${event}: not connected`));
      }
      const p = this.pendingFor({ event, data, ref: this.nextRef() }, o, resolve, reject);
      this.pending.set(p.ref, p);
      if (this.ready) this.write(p);
      else this.outbox.push(p);
    });
  }

  // ---- helpers for common requests -------------------------------------------------------------

  /** Join a room (PROTOCOL.md §5); resolves with its members and who of them is online. */
  joinRoom(roomId: string): Promise<RoomJoinedEvent> {
    return this.request('join_room', { roomId });
  }

  /** Leave a room (and its meeting). */
  leaveRoom(roomId: string): Promise<RoomRef> {
    return this.request('leave_room', { roomId });
  }

  /**
   * Send a chat message; resolves with the stored message (the server's echo). The
   * clientMsgId (generated unless given) makes a repeated send store it once.
   */
  sendMessage(roomId: string, content: string, { clientMsgId = uuid() }: { clientMsgId?: string } = {}): Promise<Message> {
    return this.request('message', { roomId, content, clientMsgId });
  }

  /** One page of a room's history, oldest first (`before` pages back, `after` forward). */
  history(roomId: string, page: { before?: string; after?: string; limit?: number } = {}): Promise<HistoryEvent> {
    return this.request('get_history', { roomId, ...page });
  }

  /** Tell the room's other members that this user is (or stopped) typing. */
  setTyping(roomId: string, isTyping: boolean): void {
    this.send('typing', { roomId, isTyping });
  }

  /** Set this user's chosen status. */
  setStatus(status: Exclude<PresenceStatus, 'offline'>): void {
    this.send('presence', { status });
  }

  /** The rooms this user belongs to. */
  async rooms(): Promise<string[]> {
    return (await this.request('get_rooms', {})).rooms;
  }

  /** The presence of the users sharing a room (or any room) with this user. */
  presence(roomId?: string): Promise<PresenceSnapshotEvent> {
    return this.request('get_presence', roomId === undefined ? {} : { roomId });
  }

  /** The room's active meeting, or `{roomId, status: 'inactive'}`. */
  roomInfo(roomId: string): Promise<RoomInfoEvent> {
    return this.request('get_room_info', { roomId });
  }

  /** A round trip to the server. */
  async ping(): Promise<void> {
    await this.request('ping', {});
  }
}
