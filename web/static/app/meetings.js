// Meetings seen from the rooms: which rooms have one running (LIVE badges), the invitation
// banner, and the header's Start meeting / Join meeting buttons.
import { $ } from './dom.js';
import { KEYS, addRoom, app, changed, me, onChange, rememberUser, state, store } from './state.js';

const dismissed = new Set(); // invitations the user closed (inviteKey)
const inviteKey = (m) => `${m.roomId}|${m.createdAt}`;

/** A meeting is running in roomId (known from an invitation or room info). */
export const liveIn = (roomId) => !!roomId && state.invitations.has(roomId);

/** The room of the call we are in, or are about to rejoin after a reload. */
const callRoom = () => state.call?.roomId || store.get(KEYS.meeting)?.roomId || null;

/** The last meeting_ended: {roomId, reason}, for the call view's closing notice. */
export let lastEnded = null;

function renderInvitation() {
  const open = [...state.invitations.values()].filter((m) => m.roomId !== callRoom() && !dismissed.has(inviteKey(m)));
  open.sort((a, b) => (b.roomId === state.room) - (a.roomId === state.room) || (b.createdAt || 0) - (a.createdAt || 0));
  const m = open[0];
  const banner = $('#invitation');
  banner.hidden = !m;
  renderButtons();
  if (!m) return;
  banner.dataset.room = m.roomId;
  const who = m.self ? 'You' : (m.host?.username || 'Someone');
  $('#invitation-text').textContent = `${who} started a meeting in ${m.roomId} — `;
}

function renderButtons() {
  const live = liveIn(state.room);
  const start = $('#start-meeting');
  start.disabled = !state.room || !!state.call || state.busy || live;
  start.title = live ? 'A meeting is already running in this room' : '';
  $('#join-live').hidden = !live || state.call?.roomId === state.room;
  $('#join-live').disabled = state.busy || !!state.call;
}

/** Bring a dismissed invitation back (the user opened the room, or asked for it). */
export function undismiss(roomId) {
  const m = state.invitations.get(roomId);
  if (m && dismissed.delete(inviteKey(m))) changed('invitation');
}

/** Invitations arrive on start and at session start only: ask whether roomId has a meeting. */
export function checkMeeting(roomId) {
  app.client.roomInfo(roomId)
    .then((info) => {
      if (info.status !== 'active') {
        if (state.invitations.delete(roomId)) {
          changed('invitation');
          changed('rooms');
        }
        return;
      }
      rememberUser(info.host);
      if (info.host) state.hosts.set(roomId, info.host);
      state.invitations.set(roomId, { ...info, roomId, self: info.host?.id === me() });
      changed('invitation');
      changed('rooms');
    })
    .catch((e) => console.debug('huddle: get_room_info', roomId, e.code));
}

/** The meeting in roomId is over (ended, or found gone). */
export function meetingGone(roomId) {
  state.invitations.delete(roomId);
  if (!state.call && store.get(KEYS.meeting)?.roomId === roomId) store.del(KEYS.meeting);
  changed('invitation');
  changed('rooms');
}

function onInvitation(m) {
  if (!m?.roomId) return;
  rememberUser(m.host);
  addRoom(m.roomId);
  if (m.status === 'active') {
    state.invitations.set(m.roomId, m);
    if (m.host) state.hosts.set(m.roomId, m.host);
    changed('invitation');
    changed('rooms');
  } else meetingGone(m.roomId);
}

export function init() {
  const client = app.client;
  client.on('meeting_invitation', onInvitation);
  client.on('meeting_started', (m) => {
    if (!m?.roomId || m.roomId === app.meeting.roomId) return;
    state.invitations.set(m.roomId, { ...m, self: true }); // started from another tab of ours
    changed('invitation');
  });
  client.on('meeting_ended', (d) => {
    lastEnded = d?.roomId ? { roomId: d.roomId, reason: d.reason } : null;
    meetingGone(d?.roomId);
  });
  client.on('meeting_host_changed', (d) => {
    rememberUser(d?.host);
    if (d?.host) state.hosts.set(d.roomId, d.host);
    const inv = state.invitations.get(d?.roomId);
    if (inv) inv.host = d.host;
    changed('invitation');
  });
  // After a refused resume a meeting that ended meanwhile sent us no inactive invitation: ask,
  // so that a stale LIVE badge goes. (A call we were in is rejoined by the Meeting.)
  client.on('resync', () => {
    for (const roomId of state.invitations.keys()) if (roomId !== app.meeting.roomId) checkMeeting(roomId);
  });
  onChange('invitation', renderInvitation);
  onChange('header', renderButtons);
  onChange('room-removed', (id) => state.invitations.delete(id));
  onChange('signed-out', () => {
    state.invitations.clear();
    state.hosts.clear();
    dismissed.clear();
  });

  $('#invitation-dismiss').addEventListener('click', () => {
    const m = state.invitations.get($('#invitation').dataset.room);
    if (m) dismissed.add(inviteKey(m));
    renderInvitation();
  });
}
