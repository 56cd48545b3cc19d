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
const CATCHUP_PAGE = 100;
const pageParams = new URLSearchParams(location.search);
// Presence goes "away" after this long without input (or with the tab hidden); ?idle=<ms>
// overrides it (the browser tests use a short value).
const IDLE_MS = Number(pageParams.get('idle')) > 0 ? Number(pageParams.get('idle')) : 5 * 60_000;
const HIDDEN_AWAY_MS = Math.min(IDLE_MS, 60_000);
const SPEAKER_EVERY_MS = 400;
const SPEAKER_LEVEL = 0.02; // audio level above which a participant counts as speaking

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
  drafts: new Map(), // roomId -> unsent composer text
  participants: new Map(), // userId -> User, of the call we are in (us excluded)
  peerStates: new Map(), // userId -> RTCPeerConnectionState
  hosts: new Map(), // roomId -> host User of its active meeting
  notices: [], // every notice shown, oldest first (read by tests through window.huddle)
  myStatus: 'online', // our own presence: online | away
  filter: '', // the room search box
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

function avatar(user, cls = '') {
  const name = user?.username || user?.id || '?';
  return h('span', { class: `avatar ${cls}`.trim(), style: `--hue:${hue(user?.id || name)}`, 'aria-hidden': 'true' }, [...name][0]?.toUpperCase() || '?');
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
  if (tile) {
    tile.querySelector('.name').textContent = nameOf(u.id);
    tile.querySelector('.placeholder').replaceChildren(avatar(state.users.get(u.id), 'big'));
  }
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
  state.notices.push(text);
  const n = $('#notice');
  n.textContent = text;
  n.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => { n.hidden = true; }, 5000);
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
    case 'bad_request': return 'The server did not understand that request.';
    case 'internal': return 'Something went wrong on the server. Please try again.';
    default: return 'Something went wrong. Please try again.';
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
  const f = state.filter.toLowerCase();
  const shown = state.rooms.filter((id) => !f || id.toLowerCase().includes(f));
  $('#rooms').replaceChildren(...shown.map((id) => {
    const unread = state.boxes.get(id)?.unread || 0;
    const live = state.invitations.has(id);
    const label = [`Room ${id}`, live && 'meeting in progress', unread > 0 && `${unread} unread`].filter(Boolean).join(', ');
    return h('li', {},
      h('button', {
        type: 'button', class: `room-item${id === state.room ? ' active' : ''}`, 'data-room': id, 'aria-label': label,
        'aria-current': id === state.room ? 'true' : null,
        onclick: () => { undismiss(id); openRoom(id); },
      },
      h('span', { class: 'hash', 'aria-hidden': 'true' }, '#'), h('span', { class: 'room-name' }, id),
      live && h('span', { class: 'live', title: 'Meeting in progress', 'aria-hidden': 'true' }, 'live'),
      unread > 0 && h('span', { class: 'unread', 'aria-hidden': 'true' }, String(unread))));
  }));
  $('#rooms-empty').hidden = !f || shown.length > 0;
}

// A meeting is running in roomId (we know of it from an invitation or room info).
const liveIn = (roomId) => !!roomId && state.invitations.has(roomId);

function renderHeader() {
  $('#room-title').textContent = state.room ? `# ${state.room}` : 'No room selected';
  const live = liveIn(state.room);
  const start = $('#start-meeting');
  start.disabled = !state.room || !!state.call || state.busy || live;
  start.title = live ? 'A meeting is already running in this room' : '';
  $('#join-live').hidden = !live || state.call?.roomId === state.room;
  $('#join-live').disabled = state.busy || !!state.call;
  $('#leave-room').disabled = !state.room;
  $('#message-input').disabled = !state.room;
  $('#message-send').disabled = !state.room;
  renderRoomCount();
}

function renderRoomCount() {
  const n = state.room ? new Set([...membersOf(state.room), me()]).size : 0;
  $('#room-count').textContent = state.room ? `${n} member${n === 1 ? '' : 's'}` : '';
}

function fmtTime(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const time = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  return d.toDateString() === new Date().toDateString() ? time : `${d.toLocaleDateString()} ${time}`;
}

// Message text with http(s) links made clickable. Text stays text (no HTML is parsed).
const URL_RE = /\bhttps?:\/\/[^\s<>"]+/gi;
function linkify(text) {
  const out = [];
  let last = 0;
  for (const match of text.matchAll(URL_RE)) {
    let url = match[0].replace(/[.,;:!?)\]]+$/, ''); // trailing punctuation is the sentence's
    if (!url) continue;
    if (match.index > last) out.push(text.slice(last, match.index));
    out.push(h('a', { href: url, target: '_blank', rel: 'noopener noreferrer' }, url));
    last = match.index + url.length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

function dayLabel(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const today = new Date();
  const yesterday = new Date(today);
  yesterday.setDate(today.getDate() - 1);
  if (d.toDateString() === today.toDateString()) return 'Today';
  if (d.toDateString() === yesterday.toDateString()) return 'Yesterday';
  return d.toLocaleDateString([], { weekday: 'long', year: 'numeric', month: 'long', day: 'numeric' });
}

function messageEl(m) {
  const mine = m.sender?.id === me();
  return h('div', {
    class: `message${mine ? ' mine' : ''}${m.pending ? ' pending' : ''}${m.failed ? ' failed' : ''}`,
    'data-id': m.id, 'data-client-id': m.clientMsgId,
    title: m.failed ? 'Not sent — click to retry' : null,
    onclick: m.failed ? () => resend(m) : null,
    // A failed message is a button for the keyboard too.
    role: m.failed ? 'button' : null, tabindex: m.failed ? '0' : null,
    'aria-label': m.failed ? `Not sent: ${m.content}. Press Enter to retry.` : null,
    onkeydown: m.failed ? (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); resend(m); } } : null,
  },
  avatar(m.sender),
  h('div', { class: 'bubble' },
    h('div', { class: 'meta' },
      h('span', { class: 'sender' }, m.sender?.username || nameOf(m.sender?.id) || 'unknown'),
      h('time', { class: 'time', datetime: m.createdAt, title: new Date(m.createdAt).toLocaleString() }, fmtTime(m.createdAt)),
      m.failed && h('span', { class: 'flag' }, 'not sent')),
    h('div', { class: 'content' }, linkify(String(m.content ?? '')))));
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
    let day = null;
    for (const m of box.items) {
      const label = dayLabel(m.createdAt);
      if (label && label !== day) {
        day = label;
        nodes.push(h('div', { class: 'day-separator', role: 'separator', 'aria-label': label }, h('span', {}, label)));
      }
      nodes.push(messageEl(m));
    }
  }
  list.replaceChildren(...nodes);
  if (keepScroll) list.scrollTop = list.scrollHeight - prevHeight + prevTop;
  else if (atBottom || stick) list.scrollTop = list.scrollHeight;
}

function statusOf(id) {
  if (id === me()) return state.myStatus;
  return state.presence.get(id)?.status || 'offline';
}

function memberEl(id) {
  const status = statusOf(id);
  const p = state.presence.get(id);
  const seen = status !== 'online' && p?.lastSeen ? `last seen ${fmtTime(p.lastSeen)}` : status;
  return h('li', { class: 'member', 'data-user': id, 'data-status': status, title: seen },
    avatar(state.users.get(id) || { id }),
    h('span', { class: 'member-name' }, nameOf(id), id === me() && h('span', { class: 'you' }, ' (you)')),
    h('span', { class: 'dot', role: 'img', 'aria-label': status }));
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
  renderRoomCount();
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
  renderHeader();
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
    btn.setAttribute('aria-label', on ? onLabel : offLabel); // the text is hidden on narrow screens
  };
  set($('#toggle-mic'), !!mesh?.micEnabled, !!mesh?.audioTrack, 'Mute', 'Unmute');
  set($('#toggle-cam'), !!mesh?.cameraEnabled, !!mesh?.cameraTrack, 'Stop video', 'Start video');
  set($('#toggle-screen'), !!mesh?.screenTrack, !!navigator.mediaDevices?.getDisplayMedia, 'Stop sharing', 'Share screen');
  $('#stop-meeting').hidden = !mesh?.isHost;
  $('#leave-meeting').title = mesh?.isHost ? 'Leave the call; the meeting goes on without you' : 'Leave the call';
  const local = document.querySelector('.tile.local');
  local.dataset.user = me() || '';
  local.querySelector('.placeholder').replaceChildren(avatar(state.user || { id: '?' }, 'big'));
  applyMediaState(local, { audio: !!mesh?.micEnabled, video: !!mesh?.cameraEnabled, screen: !!mesh?.screenTrack });
}

function renderParticipants() {
  const roomId = state.call?.roomId;
  const people = [state.user, ...state.participants.values()].filter(Boolean);
  $('#meeting-title').textContent = roomId ? `Meeting in #${roomId}` : '';
  $('#participant-count').textContent = roomId ? `${people.length} in call` : '';
  const host = state.hosts.get(roomId)?.id;
  $('#participants').replaceChildren(...people.map((u) => h('li', { class: 'participant', 'data-user': u.id },
    avatar(u), h('span', {}, u.id === me() ? `${nameOf(u.id)} (you)` : nameOf(u.id)),
    u.id === host && h('span', { class: 'host-tag' }, 'host'))));
  layoutTiles();
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

function removeRoom(id) {
  state.rooms = state.rooms.filter((r) => r !== id);
  if (me()) localStorage.setItem(roomsKey(), JSON.stringify(state.rooms));
  state.boxes.delete(id);
  state.members.delete(id);
  state.drafts.delete(id);
  state.invitations.delete(id);
}

async function leaveRoom() {
  const roomId = state.room;
  if (!roomId || !client) return;
  if (state.call?.roomId === roomId) await quiet(client.leaveMeeting());
  try {
    await client.request('leave_room', { roomId }, { reply: 'room_left', match: (d) => d?.roomId === roomId });
  } catch (e) {
    showError(e.code || 'error', errorText(e));
    return;
  }
  stopTyping();
  removeRoom(roomId);
  state.room = null;
  store.del(ROOM_KEY);
  $('#message-input').value = '';
  notice(`You left #${roomId}.`);
  renderAll();
  $('#room-input').focus();
}

// The composer keeps one draft per room.
function saveDraft() {
  if (!state.room) return;
  const text = $('#message-input').value;
  if (text) state.drafts.set(state.room, text);
  else state.drafts.delete(state.room);
}

async function openRoom(roomId, { focus = true } = {}) {
  roomId = String(roomId ?? '').trim();
  if (!roomId || !client) return;
  if (state.room !== roomId) {
    stopTyping();
    saveDraft();
    $('#message-input').value = state.drafts.get(roomId) || '';
  }
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
        if (state.invitations.delete(roomId)) {
          renderInvitation();
          renderRooms();
        }
        return;
      }
      rememberUser(info.host);
      if (info.host) state.hosts.set(roomId, info.host);
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

// After a refused resume (server restarted, node died, window passed) nothing was replayed:
// fetch, for every room we have messages of, everything after the last one we saw.
async function catchUp(roomId) {
  const box = boxOf(roomId);
  for (let page = 0; page < 50; page++) { // bounded: 5000 messages, then the user scrolls
    const last = [...box.items].reverse().find((m) => m.id);
    if (!last) return loadHistory(roomId);
    let res;
    try {
      res = await client.request('get_history', { roomId, after: last.id, limit: CATCHUP_PAGE },
        { reply: 'history', match: (d) => d?.roomId === roomId });
    } catch (e) {
      console.warn('huddle: catch-up', roomId, e.code);
      return;
    }
    const added = (res?.messages || []).filter(insertMessage).length;
    if (roomId === state.room) renderMessages();
    else if (added) {
      box.unread += added;
      renderRooms();
    }
    if (!res?.hasMore || !added) return;
  }
}

function onResync() {
  console.info('huddle: session could not be resumed; re-syncing');
  for (const [roomId, box] of state.boxes) if (box.loaded) catchUp(roomId);
  // A meeting that ended while we were away sent us no inactive invitation: ask, so that a
  // stale LIVE badge goes. (A call we were in is rejoined by the mesh, or reported ended.)
  for (const roomId of state.invitations.keys()) if (roomId !== client.mesh.roomId) checkMeeting(roomId);
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
  renderParticipants();
  renderInvitation();
  renderHeader();
  fillDevices();
  startSpeakerWatch();
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
  state.participants.clear();
  state.peerStates.clear();
  stopSpeakerWatch();
  renderControls();
  renderParticipants();
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
  if (!roomId || state.busy || state.call?.roomId === roomId) return;
  state.busy = true;
  renderHeader();
  if (state.room !== roomId) openRoom(roomId, { focus: false });
  try {
    await client.joinMeeting(roomId, { isHost });
    enterCall(roomId);
  } catch (e) {
    if (e.code === 'not_found' || e.code === 'forbidden' || e.code === 'meeting_full') {
      const wasIn = store.get(MEETING_KEY)?.roomId === roomId;
      store.del(MEETING_KEY);
      if (e.code === 'not_found') {
        state.invitations.delete(roomId);
        if (wasIn) notice(`The meeting in #${roomId} has ended.`);
      }
    } else if (e.code === 'timeout') showError('timeout', errorText(e));
    renderInvitation();
    renderRooms();
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

// Badges are real text (MUTED, SCREEN), so screen readers and the camera-off view show them.
function applyMediaState(tile, s) {
  if (!tile || !s) return;
  tile.dataset.audio = String(!!s.audio);
  tile.dataset.video = String(!!s.video || !!s.screen);
  tile.dataset.screen = String(!!s.screen);
  tile.querySelector('.badges').replaceChildren(...[
    !s.audio && h('span', { class: 'badge muted' }, 'Muted'),
    !s.video && !s.screen && h('span', { class: 'badge cam-off' }, 'Camera off'),
    s.screen && h('span', { class: 'badge screen' }, 'Screen')].filter(Boolean));
}

const CONN_TEXT = { new: 'Connecting…', connecting: 'Connecting…', disconnected: 'Reconnecting…', failed: 'Reconnecting…' };

function applyConnState(tile, userId) {
  if (!tile) return;
  const st = state.peerStates.get(userId) || 'new';
  tile.dataset.conn = st;
  tile.querySelector('.conn-state').textContent = CONN_TEXT[st] || '';
}

function ensureTile(userId) {
  let tile = tileOf(userId);
  if (tile) return tile;
  const video = h('video', { class: 'remote-video', 'data-user': userId, autoplay: true, playsinline: true, 'aria-label': `Video of ${nameOf(userId)}` });
  tile = h('div', { class: 'tile', 'data-user': userId, 'data-audio': 'true', 'data-video': 'true' },
    video,
    h('div', { class: 'placeholder', 'aria-hidden': 'true' }, avatar(state.users.get(userId) || { id: userId }, 'big')),
    h('div', { class: 'conn-state', 'aria-live': 'polite' }),
    h('div', { class: 'label' }, h('span', { class: 'name' }, nameOf(userId)), h('span', { class: 'badges' })));
  $('#remote-videos').append(tile);
  applyMediaState(tile, state.mediaStates.get(userId) || { audio: true, video: true, screen: false });
  applyConnState(tile, userId);
  layoutTiles();
  return tile;
}

function upsertTile(userId, stream) {
  const tile = ensureTile(userId);
  const video = tile.querySelector('video');
  video.srcObject = stream;
  playVideo(video);
}

// Tiles as large as fit: try every column count and keep the one with the widest 16:9 tile.
function layoutTiles() {
  const grid = $('#video-grid');
  if (!grid || $('#meeting').hidden) return;
  const n = grid.querySelectorAll('.tile').length;
  const gap = 8;
  const W = grid.clientWidth;
  const H = grid.clientHeight;
  if (!W || !H || !n) return;
  let best = { w: 0, cols: 1 };
  for (let cols = 1; cols <= n; cols++) {
    const rows = Math.ceil(n / cols);
    const w = Math.min((W - gap * (cols - 1)) / cols, ((H - gap * (rows - 1)) / rows) * 16 / 9);
    if (w > best.w) best = { w, cols };
  }
  grid.style.setProperty('--tile-w', `${Math.max(120, Math.floor(best.w))}px`);
}

// Highlight who speaks: the loudest remote audio above a threshold.
let speakerTimer = null;
function startSpeakerWatch() {
  stopSpeakerWatch();
  speakerTimer = setInterval(() => {
    const levels = client?.mesh.audioLevels() || new Map();
    let top = null;
    let max = SPEAKER_LEVEL;
    for (const [id, level] of levels) if (level > max && state.mediaStates.get(id)?.audio !== false) { top = id; max = level; }
    for (const tile of document.querySelectorAll('#remote-videos .tile')) tile.classList.toggle('speaking', tile.dataset.user === top);
  }, SPEAKER_EVERY_MS);
}
function stopSpeakerWatch() {
  clearInterval(speakerTimer);
  speakerTimer = null;
}

async function fillDevices() {
  if (!navigator.mediaDevices?.enumerateDevices) return;
  let devices = [];
  try { devices = await navigator.mediaDevices.enumerateDevices(); } catch { return; }
  const mesh = client?.mesh;
  const fill = (sel, kind, current) => {
    const list = devices.filter((d) => d.kind === kind);
    sel.replaceChildren(...list.map((d, i) => h('option', { value: d.deviceId, selected: d.deviceId === current }, d.label || `${kind === 'videoinput' ? 'Camera' : 'Microphone'} ${i + 1}`)));
    sel.disabled = list.length < 2;
    sel.parentElement.hidden = list.length === 0;
  };
  fill($('#camera-select'), 'videoinput', mesh?.cameraTrack?.getSettings?.().deviceId);
  fill($('#mic-select'), 'audioinput', mesh?.audioTrack?.getSettings?.().deviceId);
}

async function switchDevice(kind, deviceId) {
  try {
    await client.mesh.useDevice(kind, deviceId);
  } catch (e) {
    showError('media_unavailable', kind === 'audio' ? 'That microphone could not be opened.' : 'That camera could not be opened.');
  }
  renderControls();
  fillDevices();
}

function copyMeetingLink() {
  const roomId = state.call?.roomId || state.room;
  if (!roomId) return;
  const link = new URL(`/?meeting=${encodeURIComponent(roomId)}`, location.href).href;
  const done = () => notice('Meeting link copied.');
  const fallback = () => {
    const input = h('input', { value: link, readonly: true, 'aria-hidden': 'true', style: 'position:fixed;opacity:0' });
    document.body.append(input);
    input.select();
    let ok = false;
    try { ok = document.execCommand('copy'); } catch { /* not allowed */ }
    input.remove();
    if (ok) done();
    else notice(`Share this link: ${link}`);
  };
  if (navigator.clipboard?.writeText) navigator.clipboard.writeText(link).then(done, fallback);
  else fallback();
  state.copiedLink = link;
}

function setLocalPreview(stream) {
  const v = $('#local-video');
  v.muted = true; // the local preview is always muted, whatever the mic toggle says
  v.srcObject = stream;
  v.classList.toggle('mirror', !client?.mesh.screenTrack);
  if (stream) playVideo(v);
  renderControls();
}

// Bring a dismissed invitation back (the user opened the room, or asked for it).
function undismiss(roomId) {
  const m = state.invitations.get(roomId);
  if (m && state.dismissed.delete(inviteKey(m))) renderInvitation();
}

function onInvitation(m) {
  if (!m?.roomId) return;
  rememberUser(m.host);
  addRoom(m.roomId);
  if (m.status === 'active') {
    state.invitations.set(m.roomId, m);
    if (m.host) state.hosts.set(m.roomId, m.host);
  } else {
    state.invitations.delete(m.roomId);
    if (!state.call && store.get(MEETING_KEY)?.roomId === m.roomId) store.del(MEETING_KEY);
  }
  renderInvitation();
  renderRooms();
}

let endedReason = null; // {roomId, reason} of the last meeting_ended, for the closing notice

function onMeetingEnded(d) {
  endedReason = d?.roomId ? { roomId: d.roomId, reason: d.reason } : null;
  state.invitations.delete(d?.roomId);
  if (!state.call && store.get(MEETING_KEY)?.roomId === d?.roomId) store.del(MEETING_KEY);
  renderInvitation();
  renderRooms();
}

function endedText(roomId) {
  const host = state.hosts.get(roomId);
  const reason = endedReason?.roomId === roomId ? endedReason.reason : null;
  if (reason === 'host_left' && host && host.id !== me()) return `${nameOf(host.id)} (the host) left; the meeting has ended.`;
  if (reason === 'empty') return `The meeting in #${roomId} ended: nobody was left.`;
  if (reason === 'stopped' && host && host.id !== me()) return `${nameOf(host.id)} ended the meeting for everyone.`;
  return `The meeting in #${roomId} has ended.`;
}

function onMeetingClosed({ roomId, reason }) {
  if (!state.call && store.get(MEETING_KEY)?.roomId !== roomId) return;
  exitCall();
  if (reason === 'ended' || reason === 'not_found') {
    // not_found: a rejoin after the server came back found the meeting gone.
    state.invitations.delete(roomId);
    renderRooms();
    renderInvitation();
    notice(endedText(roomId));
  } else if (reason === 'left') notice(`You left the meeting in #${roomId}.`);
  else if (reason === 'stopped') notice(`You ended the meeting in #${roomId} for everyone.`);
}

function onUserJoinedCall(d) {
  if (!d?.user?.id || d.user.id === me() || d.roomId !== state.call?.roomId) return;
  const known = state.participants.has(d.user.id);
  state.participants.set(d.user.id, d.user);
  if (!known && !d.rejoin) notice(`${nameOf(d.user.id)} joined the call.`);
  renderParticipants();
}

function onUserLeftCall(d) {
  const uid = d?.user?.id;
  if (!uid || uid === me() || d.roomId !== state.call?.roomId) return;
  state.participants.delete(uid);
  state.peerStates.delete(uid);
  tileOf(uid)?.remove();
  const host = state.hosts.get(d.roomId);
  // The server's host policy decides what a host's Leave means; a leave_meeting keeps the
  // meeting going (an ended meeting comes as meeting_ended instead, see endedText).
  if (host?.id === uid) notice(`${nameOf(uid)} (the host) left; the meeting continues.`);
  else notice(`${nameOf(uid)} left the call.`);
  renderParticipants();
}

function onMediaError({ name, receiveOnly }) {
  const what = receiveOnly ? 'You joined receive-only: others cannot see or hear you.' : 'You joined with your microphone only.';
  if (name === 'NotAllowedError') showError('media_denied', `Camera/microphone permission was denied. ${what}`);
  else if (name === 'NotFoundError' || name === 'OverconstrainedError') showError('media_unavailable', `No camera or microphone was found. ${what}`);
  else if (name === 'NotReadableError') showError('media_unavailable', `Your camera or microphone is busy in another app. ${what}`);
  else if (name === 'NotSupportedError') showError('media_unavailable', `This page cannot use a camera here (it needs https or localhost). ${what}`);
  else showError('media_unavailable', `Your camera and microphone could not be started. ${what}`);
}

// Screen-capture failures in words a user understands (browsers' own texts are not: Firefox
// says "The object can not be found here." when no screen can be captured).
function screenErrorText(e) {
  switch (e?.name) {
    case 'NotFoundError': return 'No screen or window is available to share.';
    case 'NotReadableError': return 'The screen could not be captured: another app may be using it.';
    case 'NotSupportedError':
    case 'TypeError': return 'This browser cannot share the screen from this page.';
    case 'InvalidStateError': return 'Screen sharing must be started by a click on the button.';
    default: return 'Screen sharing could not start. Please try again.';
  }
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
  hideToast('bad_request'); // a sign-in form complaint is moot once signed in
  hideToast('unauthorized');
  // A fresh session starts online: tell the server again if we were away.
  if (!d?.resumed && state.myStatus === 'away') quiet(client.send('presence', { status: 'away' }));
  $('#me-name').textContent = d.user?.username || d.user?.id || '';
  armIdle();
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
  on('resync', onResync);
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
  on('meeting_joined', (d) => {
    for (const u of d?.participants || []) {
      noteMember(d.roomId, u);
      if (u?.id && u.id !== me()) state.participants.set(u.id, u);
    }
    renderParticipants();
  });
  on('meeting_user_joined', (d) => { noteMember(d?.roomId, d?.user); onUserJoinedCall(d); });
  on('meeting_user_left', (d) => { rememberUser(d?.user); onUserLeftCall(d); });
  on('meeting_ended', onMeetingEnded);
  on('meeting_host_changed', (d) => {
    rememberUser(d?.host);
    if (d?.host) state.hosts.set(d.roomId, d.host);
    const inv = state.invitations.get(d?.roomId);
    if (inv) inv.host = d.host;
    if (d?.roomId === state.call?.roomId && d?.host) notice(`${d.host.id === me() ? 'You are' : `${nameOf(d.host.id)} is`} now the host.`);
    renderInvitation();
    renderParticipants();
  });
  on('host_status', ({ roomId, isHost }) => {
    if (state.call) store.set(MEETING_KEY, { roomId: state.call.roomId, isHost });
    if (isHost && roomId) state.hosts.set(roomId, state.user);
    renderControls();
    renderParticipants();
  });
  on('media_state', (d) => {
    if (!d?.user?.id) return;
    state.mediaStates.set(d.user.id, d);
    applyMediaState(tileOf(d.user.id), d);
  });
  on('remote_stream', ({ userId, stream }) => upsertTile(userId, stream));
  on('peer_state', ({ userId, state: st }) => {
    state.peerStates.set(userId, st);
    if (state.call) applyConnState(ensureTile(userId), userId);
  });
  // A replaced connection (reload, ICE restart by a fresh offer) keeps the tile while the
  // participant is still in the call; meeting_user_left removes it.
  on('remote_left', ({ userId }) => {
    if (!state.participants.has(userId)) tileOf(userId)?.remove();
    else {
      state.peerStates.set(userId, 'connecting');
      applyConnState(tileOf(userId), userId);
    }
    layoutTiles();
  });
  on('local_stream', ({ stream }) => setLocalPreview(stream));
  on('media_error', onMediaError);
  on('meeting_closed', onMeetingClosed);
  on('error', onServerError);
}

function signIn(auth) {
  store.set(AUTH_KEY, auth);
  hideToast();
  setBodyState('connecting');
  const old = client;
  client = null;
  old?.disconnect({ forget: false });
  client = new HuddleClient({ url: state.wsUrl || wsURL('/ws'), iceTransportPolicy: state.iceTransportPolicy });
  wire(client);
  client.connect(auth.token ? { token: auth.token } : auth.user ? { user: auth.user, name: auth.name } : { name: auth.name });
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
  Object.assign(state, { user: null, room: null, rooms: [], call: null, busy: false, myStatus: 'online' });
  for (const k of ['boxes', 'members', 'users', 'presence', 'invitations', 'mediaStates', 'drafts', 'hosts', 'dismissed']) state[k].clear();
  $('#message-input').value = '';
  for (const m of state.typing.values()) for (const t of m.values()) clearTimeout(t);
  state.typing.clear();
  document.body.classList.remove('was-ready');
  setBodyState('signed-out');
  renderConn('idle');
  $('#me-name').textContent = '';
  renderAll();
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
  if (client?.state === 'ready') quiet(client.send('presence', { status }));
  renderMembers();
}

// Away after IDLE_MS without input, or HIDDEN_AWAY_MS with the tab hidden; never in a call
// (people watch calls without touching anything). Any input or showing the tab is online.
function armIdle() {
  clearTimeout(idleTimer);
  if (!client) return;
  const hidden = document.visibilityState === 'hidden';
  idleTimer = setTimeout(() => {
    if (state.call) return armIdle();
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

// wsURL resolves the WebSocket address from config.json against the page's own address.
function wsURL(u) {
  const abs = new URL(u, location.href);
  if (abs.protocol === 'http:') abs.protocol = 'ws:';
  if (abs.protocol === 'https:') abs.protocol = 'wss:';
  return abs.href.replace(/[?#].*$/, '');
}

async function loadConfig() {
  try {
    const res = await fetch('config.json', { cache: 'no-store' });
    const cfg = await res.json();
    state.mode = cfg.auth === 'jwt' ? 'jwt' : cfg.auth === 'dev' ? 'dev' : 'any';
    if (cfg.wsUrl) state.wsUrl = wsURL(cfg.wsUrl);
    state.iceTransportPolicy = cfg.iceTransportPolicy || 'all';
    if (client) client.iceTransportPolicy = state.iceTransportPolicy; // signed in before the config came
  } catch (e) {
    console.warn('huddle: config.json unavailable; offering both sign-in methods', e);
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
    if (!name) {
      $('#signin-name').focus();
      return showError('bad_request', 'Please enter a display name.');
    }
    signIn({ name: name.normalize('NFC') }); // the server derives a stable id from the name
  });
  $('#signout').addEventListener('click', signOut);

  $('#room-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const input = $('#room-input');
    const typed = input.value.trim();
    const f = typed.toLowerCase();
    // Enter opens the one matching room, else joins (creates) the room typed.
    const matches = state.rooms.filter((r) => r.toLowerCase().includes(f));
    const id = !typed ? 'lobby' : state.rooms.find((r) => r.toLowerCase() === f) || (matches.length === 1 ? matches[0] : typed);
    input.value = '';
    state.filter = '';
    undismiss(id);
    openRoom(id);
  });
  $('#room-input').addEventListener('input', (e) => { state.filter = e.target.value.trim(); renderRooms(); });
  $('#room-input').addEventListener('keydown', (e) => {
    if (e.key === 'Escape') { e.target.value = ''; state.filter = ''; renderRooms(); }
  });
  $('#leave-room').addEventListener('click', leaveRoom);
  $('#join-live').addEventListener('click', () => joinMeeting(state.room));
  $('#copy-link').addEventListener('click', copyMeetingLink);
  $('#camera-select').addEventListener('change', (e) => switchDevice('video', e.target.value));
  $('#mic-select').addEventListener('change', (e) => switchDevice('audio', e.target.value));
  navigator.mediaDevices?.addEventListener?.('devicechange', () => { if (state.call) fillDevices(); });
  new ResizeObserver(() => layoutTiles()).observe($('#video-grid'));
  for (const ev of ['pointerdown', 'keydown', 'mousemove', 'wheel', 'touchstart', 'focus']) window.addEventListener(ev, onActivity, { passive: true });
  document.addEventListener('visibilitychange', () => (document.visibilityState === 'visible' ? onActivity() : armIdle()));

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
      console.warn('huddle: screen share', e);
      if (e.name !== 'NotAllowedError' && e.name !== 'AbortError') showError('screen_unavailable', screenErrorText(e));
    }
    renderControls();
  });
  $('#leave-meeting').addEventListener('click', () => quiet(client.leaveMeeting()));
  const confirmEnd = $('#confirm-end');
  $('#stop-meeting').addEventListener('click', () => {
    if (typeof confirmEnd.showModal === 'function') confirmEnd.showModal();
    else if (window.confirm('End the meeting for everyone?')) quiet(client.stopMeeting());
  });
  confirmEnd.addEventListener('close', () => {
    if (confirmEnd.returnValue === 'end') quiet(client.stopMeeting());
    confirmEnd.returnValue = '';
    $('#stop-meeting').focus();
  });
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
      get notices() { return [...state.notices]; },
      get myStatus() { return state.myStatus; },
      get participants() { return [...state.participants.keys()]; },
      get copiedLink() { return state.copiedLink ?? null; },
      videoCaps: () => (client?.peerConnections() ?? []).map((pc) => {
        const s = pc.getSenders().find((x) => x.track?.kind === 'video');
        const e = s?.getParameters().encodings?.[0];
        return e ? { maxBitrate: e.maxBitrate ?? null, scale: e.scaleResolutionDownBy ?? 1 } : null;
      }),
    },
  };

  renderAll();
  const saved = store.get(AUTH_KEY);
  if (saved && (saved.token || saved.user || saved.name)) setBodyState('connecting');
  // The config says where the socket is: sign back in once it has come (or failed).
  loadConfig().then(() => {
    if (saved && (saved.token || saved.user || saved.name)) signIn(saved);
    else setBodyState('signed-out');
  });
}

init();
