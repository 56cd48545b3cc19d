// The chat view: the open room's messages (history, day separators, links, pending and failed
// messages), the composer with one draft per room, and typing indicators.
import { uuid } from '../client/index.js';
import { $, avatar, fmtTime, h } from './dom.js';
import { showError } from './notices.js';
import { addRoom, app, changed, me, membersOf, nameOf, onChange, rememberUser, state } from './state.js';
import { noteMember } from './people.js';

const TYPING_EVERY_MS = 2000;
const TYPING_IDLE_MS = 3000;
const TYPING_STALE_MS = 8000; // drop a remote "is typing" we never saw end
const HISTORY_PAGE = 50;

const boxes = new Map(); // roomId -> {items, byId, byClient, hasMore, loaded, loading, unread}
const drafts = new Map(); // roomId -> unsent composer text
const typing = new Map(); // roomId -> Map<userId, timer>

function boxOf(roomId) {
  let box = boxes.get(roomId);
  if (!box) {
    box = { items: [], byId: new Map(), byClient: new Map(), hasMore: false, loaded: false, loading: false, unread: 0 };
    boxes.set(roomId, box);
  }
  return box;
}

/** The room's unread count. */
export const unreadOf = (roomId) => boxes.get(roomId)?.unread || 0;

/** The room's messages, oldest first (pending ones last). */
export const messagesOf = (roomId) => [...(boxes.get(roomId)?.items || [])];

// ---- rendering -------------------------------------------------------------------------------

// Message text with http(s) links made clickable. Text stays text (no HTML is parsed).
const URL_RE = /\bhttps?:\/\/[^\s<>"]+/gi;
function linkify(text) {
  const out = [];
  let last = 0;
  for (const match of text.matchAll(URL_RE)) {
    const url = match[0].replace(/[.,;:!?)\]]+$/, ''); // trailing punctuation is the sentence's
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

function renderTyping() {
  const names = [...(typing.get(state.room)?.keys() || [])].map(nameOf);
  $('#typing').textContent = names.length === 0 ? ''
    : names.length === 1 ? `${names[0]} is typing…`
      : names.length === 2 ? `${names[0]} and ${names[1]} are typing…`
        : `${names.length} people are typing…`;
}

// ---- messages --------------------------------------------------------------------------------

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

/** Load the newest page of a room's history, or (older) the page before the oldest shown. */
export async function loadHistory(roomId, { older = false } = {}) {
  const box = boxOf(roomId);
  const oldest = box.items.find((m) => m.id);
  if (box.loading || (older && (!box.hasMore || !oldest))) return;
  const first = !box.loaded;
  box.loading = true;
  if (roomId === state.room) renderMessages({ keepScroll: older });
  try {
    const res = await app.client.history(roomId, older ? { before: oldest.id, limit: HISTORY_PAGE } : { limit: HISTORY_PAGE });
    for (const m of res.messages) {
      insertMessage(m);
      if (m.sender?.id) membersOf(roomId).add(m.sender.id);
    }
    if (older || first) box.hasMore = !!res.hasMore;
    box.loaded = true;
  } catch (e) {
    console.warn('huddle: get_history', roomId, e.code);
  } finally {
    box.loading = false;
    if (roomId === state.room) renderMessages({ keepScroll: older, stick: first });
  }
}

// A live message, or one the client's re-sync fetched after a refused resume.
function onMessage(m) {
  if (!m?.roomId) return;
  noteMember(m.roomId, m.sender);
  if (!insertMessage(m)) return;
  addRoom(m.roomId);
  clearTyping(m.roomId, m.sender?.id);
  if (m.roomId === state.room) renderMessages({ stick: m.sender?.id === me() });
  else if (m.sender?.id !== me()) {
    boxOf(m.roomId).unread++;
    changed('rooms');
  }
}

function submitMessage() {
  const input = $('#message-input');
  const content = input.value.trim();
  if (!content || !state.room) return;
  const max = app.client.limits?.maxMessageBytes;
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
// While the connection is down the client holds it and sends it once the session is back.
function deliver(item) {
  app.client.sendMessage(item.roomId, item.content, { clientMsgId: item.clientMsgId })
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

// ---- the composer: drafts and typing -----------------------------------------------------------

let typingActive = false;
let typingSentAt = 0;
let typingRoom = null;
let typingIdle;

function onComposerInput() {
  if (!state.room) return;
  if (!$('#message-input').value.trim()) return stopTyping();
  const now = Date.now();
  if (!typingActive || typingRoom !== state.room || now - typingSentAt >= TYPING_EVERY_MS) {
    typingActive = true;
    typingSentAt = now;
    typingRoom = state.room;
    app.client.setTyping(typingRoom, true);
  }
  clearTimeout(typingIdle);
  typingIdle = setTimeout(stopTyping, TYPING_IDLE_MS);
}

function stopTyping() {
  clearTimeout(typingIdle);
  if (!typingActive) return;
  typingActive = false;
  app.client.setTyping(typingRoom, false);
}

function clearTyping(roomId, userId) {
  const m = typing.get(roomId);
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
    if (!typing.has(d.roomId)) typing.set(d.roomId, new Map());
    typing.get(d.roomId).set(uid, setTimeout(() => clearTyping(d.roomId, uid), TYPING_STALE_MS));
  }
  if (d.roomId === state.room) renderTyping();
}

/** Leave the open room's chat: stop typing; keep the draft (or drop it, when the room is left). */
export function closeChat({ keepDraft = true } = {}) {
  stopTyping();
  if (!state.room) return;
  const text = $('#message-input').value;
  if (text && keepDraft) drafts.set(state.room, text);
  else drafts.delete(state.room);
  $('#message-input').value = '';
}

/** Show roomId's chat: nothing unread, and its draft when switching to it. */
export function openChat(roomId, { restoreDraft = true } = {}) {
  if (restoreDraft) $('#message-input').value = drafts.get(roomId) || '';
  boxOf(roomId).unread = 0;
}

export function init() {
  const client = app.client;
  client.on('message', onMessage);
  client.on('typing', onTyping);
  client.on('presence', (p) => {
    if (p?.status && p.status !== 'online') for (const roomId of typing.keys()) clearTyping(roomId, p.user?.id);
  });
  // A refused resume: the client re-syncs every room it saw messages of (they come as
  // `message` events); a room shown empty so far is loaded again.
  client.on('resync', () => {
    console.info('huddle: session could not be resumed; re-syncing');
    for (const [roomId, box] of boxes) if (box.loaded && !box.items.some((m) => m.id)) loadHistory(roomId);
  });
  onChange('messages', () => renderMessages({ stick: true }));
  onChange('typing', renderTyping);
  onChange('room-removed', (id) => { boxes.delete(id); drafts.delete(id); });
  onChange('signed-out', () => {
    closeChat({ keepDraft: false });
    boxes.clear();
    drafts.clear();
    for (const m of typing.values()) for (const t of m.values()) clearTimeout(t);
    typing.clear();
  });

  $('#composer').addEventListener('submit', (e) => { e.preventDefault(); submitMessage(); });
  $('#message-input').addEventListener('input', onComposerInput);
  $('#message-input').addEventListener('blur', stopTyping);
  $('#messages').addEventListener('scroll', (e) => {
    if (state.room && e.target.scrollTop < 60) loadHistory(state.room, { older: true });
  });
}
