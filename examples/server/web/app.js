// app.js — the Huddle demo single-page app: sign-in, rooms, chat, presence and meetings.
// All wire work lives in huddle-client.js; this file keeps UI state and renders it.
import { HuddleClient } from './huddle-client.js';

const $ = (sel) => document.querySelector(sel);
const AUTH_KEY = 'huddle.auth'; // sessionStorage: sign in again (and resume) after a reload
const ROOM_KEY = 'huddle.room';
const MEETING_KEY = 'huddle.meeting'; // {roomId, isHost} while in a call, to rejoin after reload
const TYPING_EVERY_MS = 2000;
const TYPING_IDLE_MS = 3000;
const TYPING_STALE_MS = 8000; // drop a remote "is typing" we never saw end
const HISTORY_PAGE = 50;

const store = {
  get(k) { try { return JSON.parse(sessionStorage.getItem(k)); } catch { return null; } },
  set(k, v) { sessionStorage.setItem(k, JSON.stringify(v)); },
  del(k) { sessionStorage.removeItem(k); },
};

const state = {
  mode: null, // "dev" | "jwt" | "any" (config unknown)
  user: null,
  room: null,
  rooms: [],
  boxes: new Map(), // roomId -> {items, byId, byClient, hasMore, loaded, loading, unread}
  members: new Map(), // roomId -> Set<userId>
  users: new Map(), // userId -> User
  presence: new Map(), // userId -> {status, lastSeen}
  typing: new Map(), // roomId -> Map<userId, timer>
  invitations: new Map(), // roomId -> ActiveMeeting (+ self: true for our own other tabs)
  dismissed: new Set(),
  mediaStates: new Map(), // userId -> {audio, video, screen}
  call: null, // {roomId} while the meeting view is open
  busy: false, // a start/join is in flight
};
let client = null;

// ---- small DOM helpers -----------------------------------------------------------------------

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  el.append(...children.flat().filter((c) => c != null && c !== false));
  return el;
}

const nameOf = (id) => state.users.get(id)?.username || id;
const me = () => state.user?.id;
const quiet = (p) => p.catch((e) => console.debug('huddle:', e.code || e));

function hue(id) {
  let x = 0;
  for (const ch of String(id)) x = (x * 31 + ch.charCodeAt(0)) % 360;
  return x;
}

function avatar(user) {
  const name = user?.username || user?.id || '?';
  return h('span', { class: 'avatar', style: `--hue:${hue(user?.id || name)}`, 'aria-hidden': 'true' }, name.slice(0, 1).toUpperCase());
}

function uuid() {
  if (globalThis.crypto?.randomUUID) return crypto.randomUUID();
  // randomUUID needs a secure context; plain-http LAN demos still deserve unique ids.
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const x = [...b].map((n) => n.toString(16).padStart(2, '0')).join('');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

function rememberUser(u) {
  if (!u?.id) return;
  const known = state.users.get(u.id);
  if (known?.username === u.username) return;
  state.users.set(u.id, { ...known, ...u });
  const tile = tileOf(u.id);
  if (tile) tile.querySelector('.name').textContent = nameOf(u.id);
}

// ---- toasts ----------------------------------------------------------------------------------

let toastTimer;
let noticeTimer;

/** Show an error in the #error toast (its text and data-code stay after it hides). */
function showError(code, text, { action, sticky = false } = {}) {
  const msg = $('#error');
  msg.textContent = text;
  msg.dataset.code = code;
  const btn = $('#error-action');
  btn.hidden = !action;
  if (action) {
    btn.textContent = action.label;
    btn.onclick = () => { hideToast(); action.run(); };
  }
  $('#toast').hidden = false;
  clearTimeout(toastTimer);
  if (!sticky) toastTimer = setTimeout(hideToast, action ? 12000 : 7000);
}

function hideToast(code) {
  if (code && $('#error').dataset.code !== code) return;
  clearTimeout(toastTimer);
  $('#toast').hidden = true;
}

function notice(text) {
  const n = $('#notice');
  n.textContent = text;
  n.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => { n.hidden = true; }, 4000);
}

function errorText(e) {
  switch (e.code) {
    case 'unauthorized': return 'Sign-in failed: the server did not accept your credentials.';
    case 'forbidden':
      if (e.event === 'stop_meeting') return 'Only the host can end the meeting for everyone.';
      return `Not allowed: ${e.message || 'you are not a member or participant here.'}`;
    case 'meeting_full': return 'This meeting is full: a mesh call has a limited number of seats.';
    case 'conflict': return 'A meeting is already running in this room.';
    case 'not_found': return e.event === 'join_meeting' ? 'That meeting is no longer active.' : (e.message || 'Not found.');
    case 'rate_limited': return 'You are sending too fast — slow down a little.';
    case 'too_large': return 'That is too large to send.';
    case 'unavailable': return 'The server is temporarily unavailable. Please try again.';
    case 'timeout': return 'The server did not answer in time. Please try again.';
    default: return e.message || `Error: ${e.code}`;
  }
}

// ---- rendering ---------------------------------------------------------------------------------

function setBodyState(s) {
  document.body.dataset.state = s;
  $('#signin-submit').disabled = s === 'connecting';
  $('#signin-status').textContent = s === 'connecting' ? 'Connecting…' : '';
}

function renderConn(s) {
  const labels = { connecting: 'Connecting…', open: 'Connecting…', ready: 'Online', reconnecting: 'Reconnecting…', closed: 'Offline', idle: '' };
  const el = $('#conn-status');
  el.dataset.state = s;
  el.textContent = labels[s] ?? s;
}

function renderSignin() {
  $('#name-field').hidden = state.mode === 'jwt' || state.mode === null;
  $('#token-field').hidden = state.mode === 'dev' || state.mode === null;
}

function boxOf(roomId) {
  let box = state.boxes.get(roomId);
  if (!box) {
    box = { items: [], byId: new Map(), byClient: new Map(), hasMore: false, loaded: false, loading: false, unread: 0 };
    state.boxes.set(roomId, box);
  }
  return box;
}

function membersOf(roomId) {
  if (!state.members.has(roomId)) state.members.set(roomId, new Set());
  return state.members.get(roomId);
}

function renderRooms() {
  $('#rooms').replaceChildren(...state.rooms.map((id) => {
    const unread = state.boxes.get(id)?.unread || 0;
    return h('li', {},
      h('button', { type: 'button', class: `room-item${id === state.room ? ' active' : ''}`, 'data-room': id, onclick: () => openRoom(id) },
        h('span', { class: 'hash' }, '#'), h('span', { class: 'room-name' }, id),
        state.invitations.has(id) && h('span', { class: 'live', title: 'Meeting in progress' }, 'live'),
        unread > 0 && h('span', { class: 'unread' }, String(unread))));
  }));
}

function renderHeader() {
  $('#room-title').textContent = state.room ? `# ${state.room}` : 'No room selected';
  $('#start-meeting').disabled = !state.room || !!state.call || state.busy;
  $('#message-input').disabled = !state.room;
  $('#message-send').disabled = !state.room;
}

function fmtTime(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const time = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  return d.toDateString() === new Date().toDateString() ? time : `${d.toLocaleDateString()} ${time}`;
}

function messageEl(m) {
  const mine = m.sender?.id === me();
  return h('div', {
    class: `message${mine ? ' mine' : ''}${m.pending ? ' pending' : ''}${m.failed ? ' failed' : ''}`,
    'data-id': m.id, 'data-client-id': m.clientMsgId,
    title: m.failed ? 'Not sent — click to retry' : null,
    onclick: m.failed ? () => resend(m) : null,
  },
  avatar(m.sender),
  h('div', { class: 'bubble' },
    h('div', { class: 'meta' },
      h('span', { class: 'sender' }, m.sender?.username || nameOf(m.sender?.id) || 'unknown'),
      h('time', { class: 'time', datetime: m.createdAt, title: new Date(m.createdAt).toLocaleString() }, fmtTime(m.createdAt)),
      m.failed && h('span', { class: 'flag' }, 'not sent')),
    h('div', { class: 'content' }, m.content)));
}

function renderMessages({ keepScroll = false, stick = false } = {}) {
  const list = $('#messages');
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 48;
  const prevHeight = list.scrollHeight;
  const prevTop = list.scrollTop;
  const nodes = [];
  if (!state.room) {
    nodes.push(h('div', { class: 'empty' }, 'Join a room to start chatting. Try “lobby”.'));
  } else {
    const box = boxOf(state.room);
    const status = box.loading ? 'Loading…' : box.hasMore ? 'Scroll up for older messages' : box.loaded ? `This is the beginning of #${state.room}.` : '';
    nodes.push(h('div', { class: 'history-status' }, status));
    nodes.push(...box.items.map(messageEl));
  }
  list.replaceChildren(...nodes);
  if (keepScroll) list.scrollTop = list.scrollHeight - prevHeight + prevTop;
  else if (atBottom || stick) list.scrollTop = list.scrollHeight;
}

function statusOf(id) {
  if (id === me()) return 'online';
  return state.presence.get(id)?.status || 'offline';
}

function memberEl(id) {
  const status = statusOf(id);
  const p = state.presence.get(id);
  const seen = status !== 'online' && p?.lastSeen ? `last seen ${fmtTime(p.lastSeen)}` : status;
  return h('li', { class: 'member', 'data-user': id, 'data-status': status, title: seen },
    avatar(state.users.get(id) || { id }),
    h('span', { class: 'member-name' }, nameOf(id), id === me() && h('span', { class: 'you' }, ' (you)')),
    h('span', { class: 'dot', 'aria-label': status }));
}

function renderMembers() {
  const rank = { online: 0, away: 1, offline: 2 };
  const sort = (ids) => ids.sort((a, b) => (rank[statusOf(a)] - rank[statusOf(b)]) || nameOf(a).localeCompare(nameOf(b)));
  const inRoom = state.room ? [...membersOf(state.room)] : [];
  if (state.room && me() && !inRoom.includes(me())) inRoom.push(me());
  const others = [...state.presence.keys()].filter((id) => id !== me() && !inRoom.includes(id));
  const items = sort(inRoom).map(memberEl);
  if (others.length > 0) items.push(h('li', { class: 'subhead' }, state.room ? 'Other contacts' : 'Contacts'));
  $('#members').replaceChildren(...items, ...sort(others).map(memberEl));
}

function renderTyping() {
  const names = [...(state.typing.get(state.room)?.keys() || [])].map(nameOf);
  $('#typing').textContent = names.length === 0 ? ''
    : names.length === 1 ? `${names[0]} is typing…`
      : names.length === 2 ? `${names[0]} and ${names[1]} are typing…`
        : `${names.length} people are typing…`;
}

const callRoom = () => state.call?.roomId || store.get(MEETING_KEY)?.roomId || null;
const inviteKey = (m) => `${m.roomId}|${m.createdAt}`;

function renderInvitation() {
  const open = [...state.invitations.values()].filter((m) => m.roomId !== callRoom() && !state.dismissed.has(inviteKey(m)));
  open.sort((a, b) => (b.roomId === state.room) - (a.roomId === state.room) || (b.createdAt || 0) - (a.createdAt || 0));
  const m = open[0];
  const banner = $('#invitation');
  banner.hidden = !m;
  if (!m) return;
  banner.dataset.room = m.roomId;
  const who = m.self ? 'You' : (m.host?.username || 'Someone');
  $('#invitation-text').textContent = `${who} started a meeting in ${m.roomId} — `;
}

function renderControls() {
  const mesh = client?.mesh;
  const set = (btn, on, available, onLabel, offLabel) => {
    btn.disabled = !available;
    btn.setAttribute('aria-pressed', String(on));
    btn.dataset.on = String(on);
    btn.querySelector('.label').textContent = on ? onLabel : offLabel;
  };
  set($('#toggle-mic'), !!mesh?.micEnabled, !!mesh?.audioTrack, 'Mute', 'Unmute');
  set($('#toggle-cam'), !!mesh?.cameraEnabled, !!mesh?.cameraTrack, 'Stop video', 'Start video');
  set($('#toggle-screen'), !!mesh?.screenTrack, !!navigator.mediaDevices?.getDisplayMedia, 'Stop sharing', 'Share screen');
  $('#stop-meeting').hidden = !mesh?.isHost;
  const local = document.querySelector('.tile.local');
  local.dataset.audio = String(!!mesh?.micEnabled);
  local.dataset.video = String(!!mesh?.cameraEnabled || !!mesh?.screenTrack);
  local.dataset.screen = String(!!mesh?.screenTrack);
}

function renderAll() {
  renderRooms();
  renderHeader();
  renderMessages({ stick: true });
  renderMembers();
  renderTyping();
  renderInvitation();
}

// ---- rooms and chat ----------------------------------------------------------------------------

const roomsKey = () => `huddle.rooms.${me()}`;

function addRoom(id) {
  if (!id || state.rooms.includes(id)) return;
  state.rooms.push(id);
  state.rooms.sort((a, b) => a.localeCompare(b));
  if (me()) localStorage.setItem(roomsKey(), JSON.stringify(state.rooms));
  renderRooms();
}

function refreshRooms() {
  try { JSON.parse(localStorage.getItem(roomsKey()) || '[]').forEach(addRoom); } catch { /* ignore */ }
  client.request('get_rooms', {}, { reply: 'rooms' })
    .then((d) => (d?.rooms || []).map((r) => (typeof r === 'string' ? r : r?.id || r?.roomId)).forEach(addRoom))
    .catch((e) => console.debug('huddle: get_rooms unavailable, using the local list', e.code));
}

async function openRoom(roomId, { focus = true } = {}) {
  roomId = String(roomId ?? '').trim();
  if (!roomId || !client) return;
  if (state.room !== roomId) stopTyping();
  state.room = roomId;
  store.set(ROOM_KEY, roomId);
  addRoom(roomId);
  boxOf(roomId).unread = 0;
  renderAll();
  if (focus) $('#message-input').focus();
  try {
    await client.request('join_room', { roomId }, { reply: 'room_joined', match: (d) => d?.roomId === roomId });
  } catch (e) {
    console.warn('huddle: join_room', roomId, e.code);
    if (e.code === 'forbidden') return;
  }
  checkMeeting(roomId);
  await loadHistory(roomId);
}

// Invitations arrive on start and at session start only, so a room joined later is asked
// whether a meeting is running in it.
function checkMeeting(roomId) {
  client.request('get_room_info', { roomId }, { reply: 'room_info_response', match: (d) => !d?.roomId || d.roomId === roomId })
    .then((info) => {
      if (info?.status !== 'active') {
        if (state.invitations.delete(roomId)) renderInvitation();
        return;
      }
      rememberUser(info.host);
      state.invitations.set(roomId, { ...info, roomId, self: info.host?.id === me() });
      renderInvitation();
      renderRooms();
    })
    .catch((e) => console.debug('huddle: get_room_info', roomId, e.code));
}

function compareMessages(a, b) {
  return (Date.parse(a.createdAt) || 0) - (Date.parse(b.createdAt) || 0) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** Insert a server message into its room; de-duplicated by id and clientMsgId. */
function insertMessage(m) {
  if (!m?.id || !m.roomId) return false;
  rememberUser(m.sender);
  const box = boxOf(m.roomId);
  if (box.byId.has(m.id)) return false;
  const local = m.clientMsgId && box.byClient.get(m.clientMsgId);
  if (local && local.id) return false;
  if (local) box.items.splice(box.items.indexOf(local), 1); // our optimistic copy: replace it
  const item = { ...m };
  let i = box.items.length; // unsent items stay last; most inserts are the newest message
  while (i > 0 && (!box.items[i - 1].id || compareMessages(box.items[i - 1], item) > 0)) i--;
  box.items.splice(i, 0, item);
  box.byId.set(item.id, item);
  if (item.clientMsgId) box.byClient.set(item.clientMsgId, item);
  return true;
}

async function loadHistory(roomId, { older = false } = {}) {
  const box = boxOf(roomId);
  const oldest = box.items.find((m) => m.id);
  if (box.loading || (older && (!box.hasMore || !oldest))) return;
  const first = !box.loaded;
  box.loading = true;
  if (roomId === state.room) renderMessages({ keepScroll: older });
  try {
    const req = { roomId, limit: HISTORY_PAGE };
    if (older) req.before = oldest.id;
    const res = await client.request('get_history', req, { reply: 'history', match: (d) => d?.roomId === roomId });
    for (const m of res?.messages || []) {
      insertMessage(m);
      if (m.sender?.id) membersOf(roomId).add(m.sender.id);
    }
    if (older || first) box.hasMore = !!res?.hasMore;
    box.loaded = true;
  } catch (e) {
    console.warn('huddle: get_history', roomId, e.code);
  } finally {
    box.loading = false;
    if (roomId === state.room) renderMessages({ keepScroll: older, stick: first });
  }
}

// A member who joined after us is only known from what they do in the room.
function noteMember(roomId, user) {
  if (!roomId || !user?.id) return;
  rememberUser(user);
  const set = membersOf(roomId);
  if (set.has(user.id)) return;
  set.add(user.id);
  if (!state.presence.has(user.id) && user.id !== me()) askPresence(roomId);
  if (roomId === state.room) renderMembers();
}

// The server announces presence changes only: a member who joined after us while already
// online would show as offline until their next change. Ask for the room's snapshot instead.
const askingPresence = new Set();
function askPresence(roomId) {
  if (!client || askingPresence.has(roomId)) return;
  askingPresence.add(roomId);
  quiet(client.request('get_presence', { roomId }, { reply: 'presence_snapshot' }))
    .finally(() => askingPresence.delete(roomId));
}

function onMessage(m) {
  if (!m?.roomId) return;
  noteMember(m.roomId, m.sender);
  if (!insertMessage(m)) return;
  addRoom(m.roomId);
  clearTyping(m.roomId, m.sender?.id);
  if (m.roomId === state.room) renderMessages({ stick: m.sender?.id === me() });
  else if (m.sender?.id !== me()) {
    boxOf(m.roomId).unread++;
    renderRooms();
  }
}

function submitMessage() {
  const input = $('#message-input');
  const content = input.value.trim();
  if (!content || !state.room) return;
  const max = client.limits?.maxMessageBytes;
  if (max && new TextEncoder().encode(content).length > max) {
    showError('too_large', `Messages are limited to ${max} bytes.`);
    return;
  }
  input.value = '';
  stopTyping();
  const item = { roomId: state.room, content, clientMsgId: uuid(), sender: state.user, createdAt: new Date().toISOString(), pending: true };
  const box = boxOf(item.roomId);
  box.items.push(item);
  box.byClient.set(item.clientMsgId, item);
  renderMessages({ stick: true });
  deliver(item);
}

// The server echoes our own message (that is the ack); a repeated clientMsgId never duplicates.
function deliver(item) {
  client.request('message', { roomId: item.roomId, content: item.content, clientMsgId: item.clientMsgId },
    { reply: 'message', match: (d) => d?.clientMsgId === item.clientMsgId })
    .catch((e) => {
      if (item.id) return; // the echo won after all
      item.pending = false;
      item.failed = true;
      if (item.roomId === state.room) renderMessages();
      if (e.code === 'timeout' || e.code === 'disconnected') showError('not_sent', 'A message could not be sent. Click it to retry.');
    });
}

function resend(item) {
  item.failed = false;
  item.pending = true;
  renderMessages();
  deliver(item);
}

// ---- typing ------------------------------------------------------------------------------------

let typingActive = false;
let typingSentAt = 0;
let typingRoom = null;
let typingIdle;

function onComposerInput() {
  if (!state.room || !client) return;
  if (!$('#message-input').value.trim()) return stopTyping();
  const now = Date.now();
  if (!typingActive || typingRoom !== state.room || now - typingSentAt >= TYPING_EVERY_MS) {
    typingActive = true;
    typingSentAt = now;
    typingRoom = state.room;
    quiet(client.send('typing', { roomId: typingRoom, isTyping: true }));
  }
  clearTimeout(typingIdle);
  typingIdle = setTimeout(stopTyping, TYPING_IDLE_MS);
}

function stopTyping() {
  clearTimeout(typingIdle);
  if (!typingActive) return;
  typingActive = false;
  if (client) quiet(client.send('typing', { roomId: typingRoom, isTyping: false }));
}

function clearTyping(roomId, userId) {
  const m = state.typing.get(roomId);
  if (!m?.has(userId)) return;
  clearTimeout(m.get(userId));
  m.delete(userId);
  if (roomId === state.room) renderTyping();
}

function onTyping(d) {
  const uid = d?.user?.id;
  if (!uid || uid === me()) return;
  noteMember(d.roomId, d.user);
  clearTyping(d.roomId, uid);
  if (d.isTyping) {
    if (!state.typing.has(d.roomId)) state.typing.set(d.roomId, new Map());
    state.typing.get(d.roomId).set(uid, setTimeout(() => clearTyping(d.roomId, uid), TYPING_STALE_MS));
  }
  if (d.roomId === state.room) renderTyping();
}

// ---- presence ----------------------------------------------------------------------------------

function setPresence(p) {
  if (!p?.user?.id) return;
  rememberUser(p.user);
  state.presence.set(p.user.id, { status: p.status || 'offline', lastSeen: p.lastSeen });
  if (p.status !== 'online') for (const roomId of state.typing.keys()) clearTyping(roomId, p.user.id);
}

function onRoomJoined(d) {
  if (!d?.roomId) return;
  addRoom(d.roomId);
  const set = membersOf(d.roomId);
  const online = new Set(d.online || []);
  for (const u of d.members || []) {
    rememberUser(u);
    set.add(u.id);
    if (u.id === me()) continue;
    const cur = state.presence.get(u.id);
    if (online.has(u.id)) {
      if (!cur || cur.status === 'offline') state.presence.set(u.id, { status: 'online' });
    } else state.presence.set(u.id, { status: 'offline', lastSeen: cur?.lastSeen });
  }
  renderMembers();
}

// ---- meetings ----------------------------------------------------------------------------------

function enterCall(roomId) {
  if (client.mesh.roomId !== roomId) return; // closed while we were waiting
  state.call = { roomId };
  store.set(MEETING_KEY, { roomId, isHost: client.mesh.isHost });
  const view = $('#meeting');
  view.hidden = false;
  view.dataset.state = 'in-call';
  document.body.classList.add('in-call');
  renderControls();
  renderInvitation();
  renderHeader();
}

function exitCall() {
  state.call = null;
  store.del(MEETING_KEY);
  const view = $('#meeting');
  view.hidden = true;
  view.dataset.state = 'idle';
  document.body.classList.remove('in-call');
  $('#remote-videos').replaceChildren();
  $('#local-video').srcObject = null;
  $('#sound-hint').hidden = true;
  renderControls();
  renderInvitation();
  renderHeader();
}

async function startMeeting() {
  const roomId = state.room;
  if (!roomId || state.call || state.busy) return;
  state.busy = true;
  renderHeader();
  try {
    await client.startMeeting(roomId);
    enterCall(roomId);
  } catch (e) {
    if (e.code === 'conflict') {
      showError('conflict', 'A meeting is already running in this room.', { action: { label: 'Join instead', run: () => joinMeeting(roomId) } });
    } else if (e.code === 'timeout') showError('timeout', errorText(e));
  } finally {
    state.busy = false;
    renderHeader();
  }
}

async function joinMeeting(roomId, { isHost = false } = {}) {
  if (state.busy || state.call?.roomId === roomId) return;
  state.busy = true;
  renderHeader();
  if (state.room !== roomId) openRoom(roomId, { focus: false });
  try {
    await client.joinMeeting(roomId, { isHost });
    enterCall(roomId);
  } catch (e) {
    if (e.code === 'not_found' || e.code === 'forbidden' || e.code === 'meeting_full') {
      store.del(MEETING_KEY);
      if (e.code === 'not_found') state.invitations.delete(roomId);
    } else if (e.code === 'timeout') showError('timeout', errorText(e));
    renderInvitation();
  } finally {
    state.busy = false;
    renderHeader();
  }
}

// After a reload (or a fresh session) the saved call is joined again: media flows anew.
function maybeRejoin() {
  const saved = store.get(MEETING_KEY);
  if (saved?.roomId && !client.mesh.roomId && !state.busy) joinMeeting(saved.roomId, { isHost: !!saved.isHost });
}

function tileOf(userId) {
  return [...document.querySelectorAll('#remote-videos .tile')].find((t) => t.dataset.user === userId) || null;
}

function playVideo(video) {
  video.play?.().catch((err) => {
    if (err.name !== 'NotAllowedError') return;
    // Autoplay with sound needs a user gesture (e.g. right after a reload): play muted for
    // now and offer a button that unmutes every remote video.
    video.muted = true;
    video.play().catch(() => {});
    $('#sound-hint').hidden = false;
  });
}

function applyMediaState(tile, s) {
  if (!tile || !s) return;
  tile.dataset.audio = String(!!s.audio);
  tile.dataset.video = String(!!s.video || !!s.screen);
  tile.dataset.screen = String(!!s.screen);
}

function upsertTile(userId, stream) {
  let tile = tileOf(userId);
  if (!tile) {
    const video = h('video', { class: 'remote-video', 'data-user': userId, autoplay: true, playsinline: true });
    tile = h('div', { class: 'tile', 'data-user': userId },
      video, h('div', { class: 'label' }, h('span', { class: 'name' }, nameOf(userId)), h('span', { class: 'badges' })));
    $('#remote-videos').append(tile);
    applyMediaState(tile, state.mediaStates.get(userId));
  }
  const video = tile.querySelector('video');
  video.srcObject = stream;
  playVideo(video);
}

function setLocalPreview(stream) {
  const v = $('#local-video');
  v.muted = true; // the local preview is always muted, whatever the mic toggle says
  v.srcObject = stream;
  v.classList.toggle('mirror', !client?.mesh.screenTrack);
  if (stream) playVideo(v);
  renderControls();
}

function onInvitation(m) {
  if (!m?.roomId) return;
  rememberUser(m.host);
  addRoom(m.roomId);
  if (m.status === 'active') state.invitations.set(m.roomId, m);
  else {
    state.invitations.delete(m.roomId);
    if (!state.call && store.get(MEETING_KEY)?.roomId === m.roomId) store.del(MEETING_KEY);
  }
  renderInvitation();
  renderRooms();
}

function onMeetingEnded(d) {
  state.invitations.delete(d?.roomId);
  if (!state.call && store.get(MEETING_KEY)?.roomId === d?.roomId) store.del(MEETING_KEY);
  renderInvitation();
  renderRooms();
}

function onMeetingClosed({ roomId, reason }) {
  if (!state.call && store.get(MEETING_KEY)?.roomId !== roomId) return;
  exitCall();
  if (reason === 'ended') notice(`The meeting in ${roomId} has ended.`);
}

function onMediaError({ name, receiveOnly }) {
  const what = receiveOnly ? 'You joined receive-only: others cannot see or hear you.' : 'You joined with your microphone only.';
  if (name === 'NotAllowedError') showError('media_denied', `Camera/microphone permission was denied. ${what}`);
  else if (name === 'NotFoundError' || name === 'OverconstrainedError') showError('media_unavailable', `No camera or microphone was found. ${what}`);
  else if (name === 'NotReadableError') showError('media_unavailable', `Your camera or microphone is busy in another app. ${what}`);
  else showError('media_unavailable', `Camera/microphone unavailable (${name}). ${what}`);
}

function onServerError(e) {
  if (e.code === 'target_unavailable' || e.code === 'unknown_event') {
    console.debug('huddle: ignored error', e);
    return;
  }
  console.warn('huddle: server error', e);
  showError(e.code || 'error', errorText(e));
}

// ---- session lifecycle -------------------------------------------------------------------------

function onSession(d) {
  state.user = d.user;
  rememberUser(d.user);
  document.body.classList.add('was-ready');
  setBodyState('ready');
  hideToast('connection_lost');
  $('#me-name').textContent = d.user?.username || d.user?.id || '';
  refreshRooms();
  // History and members are refetched on every session: after a reload nothing is in memory,
  // and after a failed resume anything may have been missed. Merging de-duplicates.
  // A meetingLink (`/?meeting=<roomId>`, the server's -meeting-link-base) opens its room, whose
  // active meeting then shows its invitation banner.
  const params = new URLSearchParams(location.search);
  const linked = params.get('meeting');
  if (linked) history.replaceState(null, '', location.pathname);
  const room = linked || state.room || store.get(ROOM_KEY);
  if (room) openRoom(room, { focus: false });
  else renderAll();
}

function wire(c) {
  // Handlers of a replaced client (after sign-out or a new sign-in) must stay silent.
  const on = (type, fn) => c.on(type, (d) => { if (client === c) fn(d); });
  on('state', ({ state: s }) => {
    renderConn(s);
    const wasReady = document.body.classList.contains('was-ready');
    if (s === 'reconnecting' || s === 'connecting') {
      setBodyState('connecting');
      if (wasReady) showError('connection_lost', 'Connection lost — reconnecting…', { sticky: true });
    } else if (s === 'closed' && wasReady) {
      showError('connection_closed', 'The server closed the connection. Reload the page to reconnect.', { sticky: true });
    }
  });
  on('session', onSession);
  on('synced', maybeRejoin);
  on('resync', () => console.info('huddle: session could not be resumed; re-synced'));
  on('resumed', (d) => console.info('huddle: resumed, replayed', d?.replayed));
  on('auth_failed', () => {
    signOut();
    showError('unauthorized', 'Sign-in failed: the server did not accept your credentials.');
  });
  on('message', onMessage);
  on('typing', onTyping);
  on('presence', (p) => { setPresence(p); renderMembers(); });
  on('member_joined', (d) => noteMember(d?.roomId, d?.user));
  on('member_left', (d) => {
    if (!d?.roomId || !d?.user?.id) return;
    membersOf(d.roomId).delete(d.user.id);
    if (d.roomId === state.room) renderMembers();
  });
  on('presence_snapshot', (d) => { (d?.users || []).forEach(setPresence); renderMembers(); });
  on('room_joined', onRoomJoined);
  on('meeting_invitation', onInvitation);
  on('meeting_started', (m) => {
    if (!m?.roomId || m.roomId === client.mesh.roomId) return;
    state.invitations.set(m.roomId, { ...m, self: true }); // started from another tab of ours
    renderInvitation();
  });
  on('meeting_joined', (d) => (d?.participants || []).forEach((u) => noteMember(d.roomId, u)));
  on('meeting_user_joined', (d) => noteMember(d?.roomId, d?.user));
  on('meeting_user_left', (d) => rememberUser(d?.user));
  on('meeting_ended', onMeetingEnded);
  on('meeting_host_changed', (d) => {
    rememberUser(d?.host);
    const inv = state.invitations.get(d?.roomId);
    if (inv) inv.host = d.host;
    renderInvitation();
  });
  on('host_status', ({ isHost }) => {
    if (state.call) store.set(MEETING_KEY, { roomId: state.call.roomId, isHost });
    renderControls();
  });
  on('media_state', (d) => {
    if (!d?.user?.id) return;
    state.mediaStates.set(d.user.id, d);
    applyMediaState(tileOf(d.user.id), d);
  });
  on('remote_stream', ({ userId, stream }) => upsertTile(userId, stream));
  on('remote_left', ({ userId }) => tileOf(userId)?.remove());
  on('local_stream', ({ stream }) => setLocalPreview(stream));
  on('media_error', onMediaError);
  on('meeting_closed', onMeetingClosed);
  on('error', onServerError);
}

function signIn(auth) {
  store.set(AUTH_KEY, auth);
  setBodyState('connecting');
  const old = client;
  client = null;
  old?.disconnect({ forget: false });
  client = new HuddleClient({ iceTransportPolicy: state.iceTransportPolicy });
  wire(client);
  client.connect(auth.token ? { token: auth.token } : { user: auth.user, name: auth.name });
}

function signOut() {
  const c = client;
  client = null; // first, so the closing client's events are ignored
  if (c) {
    if (c.mesh.roomId) quiet(c.leaveMeeting());
    c.disconnect({ forget: true });
  }
  stopTyping();
  for (const k of [AUTH_KEY, ROOM_KEY, MEETING_KEY]) store.del(k);
  exitCall();
  Object.assign(state, { user: null, room: null, rooms: [], call: null, busy: false });
  for (const k of ['boxes', 'members', 'users', 'presence', 'invitations', 'mediaStates']) state[k].clear();
  for (const m of state.typing.values()) for (const t of m.values()) clearTimeout(t);
  state.typing.clear();
  document.body.classList.remove('was-ready');
  setBodyState('signed-out');
  renderConn('idle');
  $('#me-name').textContent = '';
  renderAll();
}

const userIdFrom = (name) => name.toLowerCase().replace(/[^a-z0-9_-]/g, '-');

async function loadConfig() {
  try {
    const res = await fetch('/api/config', { cache: 'no-store' });
    const cfg = await res.json();
    state.mode = cfg.auth === 'jwt' ? 'jwt' : 'dev';
    state.iceTransportPolicy = cfg.iceTransportPolicy || 'all';
    if (client) client.iceTransportPolicy = state.iceTransportPolicy; // signed in before the config came
  } catch (e) {
    console.warn('huddle: /api/config unavailable; offering both sign-in methods', e);
    state.mode = 'any';
  }
  renderSignin();
}

// ---- wiring the page ---------------------------------------------------------------------------

function init() {
  $('#signin-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const token = $('#signin-token').value.trim();
    const name = $('#signin-name').value.trim();
    if (state.mode !== 'dev' && token) return signIn({ token });
    if (state.mode === 'jwt') return showError('bad_request', 'Paste an access token to sign in.');
    const user = userIdFrom(name);
    if (!user) return showError('bad_request', 'Please enter a display name.');
    signIn({ user, name });
  });
  $('#signout').addEventListener('click', signOut);

  $('#room-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const input = $('#room-input');
    const id = input.value.trim() || input.placeholder;
    input.value = '';
    openRoom(id);
  });

  $('#composer').addEventListener('submit', (e) => { e.preventDefault(); submitMessage(); });
  $('#message-input').addEventListener('input', onComposerInput);
  $('#message-input').addEventListener('blur', stopTyping);
  $('#messages').addEventListener('scroll', (e) => {
    if (state.room && e.target.scrollTop < 60) loadHistory(state.room, { older: true });
  });

  $('#start-meeting').addEventListener('click', startMeeting);
  $('#invitation-join').addEventListener('click', () => joinMeeting($('#invitation').dataset.room));
  $('#invitation-dismiss').addEventListener('click', () => {
    const m = state.invitations.get($('#invitation').dataset.room);
    if (m) state.dismissed.add(inviteKey(m));
    renderInvitation();
  });
  $('#toggle-mic').addEventListener('click', () => { client.setMicEnabled(!client.mesh.micEnabled); renderControls(); });
  $('#toggle-cam').addEventListener('click', () => { client.setCameraEnabled(!client.mesh.cameraEnabled); renderControls(); });
  $('#toggle-screen').addEventListener('click', async () => {
    try {
      if (client.mesh.screenTrack) client.stopScreenShare();
      else await client.startScreenShare();
    } catch (e) {
      if (e.name !== 'NotAllowedError' && e.name !== 'AbortError') showError('screen_unavailable', `Screen sharing failed: ${e.message}`);
    }
    renderControls();
  });
  $('#leave-meeting').addEventListener('click', () => quiet(client.leaveMeeting()));
  $('#stop-meeting').addEventListener('click', () => quiet(client.stopMeeting()));
  $('#sound-hint').addEventListener('click', () => {
    document.querySelectorAll('#remote-videos video').forEach((v) => { v.muted = false; v.play().catch(() => {}); });
    $('#sound-hint').hidden = true;
  });
  $('#toast-close').addEventListener('click', () => hideToast());

  // Test and debugging hook (see README): the live client and a read-only view of the state.
  window.huddle = {
    get client() { return client; },
    state: {
      get user() { return state.user; },
      get room() { return state.room; },
      get currentRoom() { return state.room; },
      get meetingRoomId() { return client?.mesh.roomId ?? null; },
      get isHost() { return !!client?.mesh.isHost; },
      get connection() { return client?.state ?? 'idle'; },
      localTracks: () => client?.localTracks() ?? [],
      peerConnections: () => client?.peerConnections() ?? [],
      messages: (roomId = state.room) => [...(state.boxes.get(roomId)?.items || [])],
    },
  };

  renderAll();
  loadConfig();
  const saved = store.get(AUTH_KEY);
  if (saved && (saved.token || saved.user)) signIn(saved);
  else setBodyState('signed-out');
}

init();
