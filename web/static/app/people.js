// People: the members of the open room and other contacts, with their presence.
import { $, avatar, fmtTime, h } from './dom.js';
import { app, changed, me, membersOf, nameOf, onChange, quiet, rememberUser, state } from './state.js';

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
}

function setPresence(p) {
  if (!p?.user?.id) return;
  rememberUser(p.user);
  state.presence.set(p.user.id, { status: p.status || 'offline', lastSeen: p.lastSeen });
}

/** A member who joined after us is only known from what they do in the room. */
export function noteMember(roomId, user) {
  if (!roomId || !user?.id) return;
  rememberUser(user);
  const set = membersOf(roomId);
  if (set.has(user.id)) return;
  set.add(user.id);
  if (!state.presence.has(user.id) && user.id !== me()) askPresence(roomId);
  if (roomId === state.room) changed('members');
}

// The server announces presence changes only: a member who joined after us while already
// online would show as offline until their next change. Ask for the room's snapshot instead.
const askingPresence = new Set();
function askPresence(roomId) {
  if (askingPresence.has(roomId)) return;
  askingPresence.add(roomId);
  quiet(app.client.presence(roomId)).finally(() => askingPresence.delete(roomId));
}

function onRoomJoined(d) {
  if (!d?.roomId) return;
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
  changed('members');
}

export function init() {
  const client = app.client;
  client.on('presence', (p) => { setPresence(p); changed('members'); });
  client.on('presence_snapshot', (d) => { (d?.users || []).forEach(setPresence); changed('members'); });
  client.on('member_joined', (d) => noteMember(d?.roomId, d?.user));
  client.on('member_left', (d) => {
    if (!d?.roomId || !d?.user?.id) return;
    membersOf(d.roomId).delete(d.user.id);
    if (d.roomId === state.room) changed('members');
  });
  client.on('room_joined', onRoomJoined);
  client.on('meeting_joined', (d) => { for (const u of d?.participants || []) noteMember(d.roomId, u); });
  client.on('meeting_user_joined', (d) => noteMember(d?.roomId, d?.user));
  onChange('members', renderMembers);
}
