// Sign-in, the connection's state, sign-out, and our own presence (away when idle).
import { $ } from './dom.js';
import { hideToast, showError } from './notices.js';
import { KEYS, app, changed, pageParams, quiet, rememberUser, state, store } from './state.js';

// Presence goes "away" after this long without input (or with the tab hidden); ?idle=<ms>
// overrides it (the browser tests use a short value).
const IDLE_MS = Number(pageParams.get('idle')) > 0 ? Number(pageParams.get('idle')) : 5 * 60_000;
const HIDDEN_AWAY_MS = Math.min(IDLE_MS, 60_000);

/** The page's sign-in state on <body data-state>: signed-out | connecting | ready. */
function setBodyState(s) {
  document.body.dataset.state = s;
  $('#signin-submit').disabled = s === 'connecting';
  $('#signin-status').textContent = s === 'connecting' ? 'Connecting…' : '';
}

const CONN_LABELS = { connecting: 'Connecting…', open: 'Online', reconnecting: 'Reconnecting…', closed: 'Offline', idle: '' };

function renderConn(s) {
  const el = $('#conn-status');
  el.dataset.state = s;
  el.textContent = CONN_LABELS[s] ?? s;
}

const wasReady = () => document.body.classList.contains('was-ready');

/** Sign in (and remember it for reloads): {token} | {name} | {user, name}. */
export function signIn(auth) {
  store.set(KEYS.auth, auth);
  hideToast();
  document.body.classList.remove('was-ready'); // a switch of users is not a lost connection
  setBodyState('connecting');
  app.client.connect(auth.token ? { token: auth.token } : auth.user ? { user: auth.user, name: auth.name } : { name: auth.name });
}

/** Sign out: leave the call, close the session for good, forget everything. */
export function signOut() {
  document.body.classList.remove('was-ready'); // first: the close is no lost connection
  if (app.meeting.roomId) quiet(app.meeting.leave());
  app.client.close({ forget: true });
  for (const k of Object.values(KEYS)) store.del(k);
  Object.assign(state, { user: null, room: null, rooms: [], myStatus: 'online' });
  for (const k of ['members', 'users', 'presence']) state[k].clear();
  setBodyState('signed-out');
  renderConn('idle');
  $('#me-name').textContent = '';
  changed('signed-out');
}

function onSession(d) {
  state.user = d.user;
  rememberUser(d.user);
  document.body.classList.add('was-ready');
  setBodyState('ready');
  hideToast('connection_lost');
  hideToast('bad_request'); // a sign-in form complaint is moot once signed in
  hideToast('unauthorized');
  // A fresh session starts online: tell the server again if we were away.
  if (!d.resumed && state.myStatus === 'away') app.client.setStatus('away');
  $('#me-name').textContent = d.user?.username || d.user?.id || '';
  armIdle();
  changed('session', d);
}

// ---- away after idle ------------------------------------------------------------------------

let idleTimer = null;
let lastActivity = 0;

function setMyStatus(status) {
  if (state.myStatus === status) return;
  state.myStatus = status;
  const el = $('#me-status');
  el.dataset.status = status;
  el.textContent = status === 'away' ? 'Away' : '';
  if (app.client.state === 'open') app.client.setStatus(status);
  changed('members');
}

// Away after IDLE_MS without input, or HIDDEN_AWAY_MS with the tab hidden; never in a call
// (people watch calls without touching anything). Any input or showing the tab is online.
function armIdle() {
  clearTimeout(idleTimer);
  if (!state.user) return;
  const hidden = document.visibilityState === 'hidden';
  idleTimer = setTimeout(() => {
    if (app.meeting.roomId) return armIdle();
    setMyStatus('away');
  }, hidden ? HIDDEN_AWAY_MS : IDLE_MS);
}

function onActivity() {
  const now = Date.now();
  if (state.myStatus !== 'away' && now - lastActivity < 1000) return; // cheap on mousemove
  lastActivity = now;
  setMyStatus('online');
  armIdle();
}

/** The form for the sign-in mode config.json named. */
export function renderSignin() {
  $('#name-field').hidden = state.mode === 'jwt' || state.mode === null;
  $('#token-field').hidden = state.mode === 'dev' || state.mode === null;
}

export function init() {
  const client = app.client;
  client.on('state', ({ state: s }) => {
    renderConn(s);
    if (s === 'reconnecting' || s === 'connecting') {
      setBodyState('connecting');
      if (wasReady()) showError('connection_lost', 'Connection lost — reconnecting…', { sticky: true, action: { label: 'Retry now', run: () => client.retryNow() } });
    } else if (s === 'closed' && wasReady()) {
      showError('connection_closed', 'The server closed the connection.', {
        sticky: true,
        action: { label: 'Reconnect', run: () => { const auth = store.get(KEYS.auth); if (auth) signIn(auth); } },
      });
    }
  });
  client.on('session', onSession);
  client.on('resumed', (d) => console.info('huddle: resumed, replayed', d?.replayed));
  client.on('auth_failed', () => {
    signOut();
    showError('unauthorized', 'Sign-in failed: the server did not accept your credentials.');
  });

  $('#signin-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const token = $('#signin-token').value.trim();
    const name = $('#signin-name').value.trim();
    if (state.mode !== 'dev' && token) return signIn({ token });
    if (state.mode === 'jwt') return showError('bad_request', 'Paste an access token to sign in.');
    if (!name) {
      $('#signin-name').focus();
      return showError('bad_request', 'Please enter a display name.');
    }
    signIn({ name: name.normalize('NFC') }); // the server derives a stable id from the name
  });
  $('#signout').addEventListener('click', signOut);

  for (const ev of ['pointerdown', 'keydown', 'mousemove', 'wheel', 'touchstart', 'focus']) window.addEventListener(ev, onActivity, { passive: true });
  document.addEventListener('visibilitychange', () => (document.visibilityState === 'visible' ? onActivity() : armIdle()));
  renderSignin();
}

/** Sign back in after a reload, with what sessionStorage kept. */
export function restore() {
  const saved = store.get(KEYS.auth);
  if (saved && (saved.token || saved.user || saved.name)) signIn(saved);
  else setBodyState('signed-out');
}
