// The room list (filter, unread counts, LIVE badges), the open room's header, and opening,
// joining and leaving rooms.
import { loadHistory, openChat, unreadOf, closeChat } from './chat.js';
import { $, h } from './dom.js';
import { checkMeeting, liveIn, undismiss } from './meetings.js';
import { notice, showError, errorText } from './notices.js';
import { KEYS, addRoom, app, changed, me, membersOf, onChange, pageParams, removeRoom, savedRooms, state, store } from './state.js';

function renderRooms() {
  const f = state.filter.toLowerCase();
  const shown = state.rooms.filter((id) => !f || id.toLowerCase().includes(f));
  $('#rooms').replaceChildren(...shown.map((id) => {
    const unread = unreadOf(id);
    const live = liveIn(id);
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

function renderHeader() {
  $('#room-title').textContent = state.room ? `# ${state.room}` : 'No room selected';
  $('#leave-room').disabled = !state.room;
  $('#message-input').disabled = !state.room;
  $('#message-send').disabled = !state.room;
  renderRoomCount();
}

function renderRoomCount() {
  const n = state.room ? new Set([...membersOf(state.room), me()]).size : 0;
  $('#room-count').textContent = state.room ? `${n} member${n === 1 ? '' : 's'}` : '';
}

/** Re-render every view. */
export function renderAll() {
  for (const what of ['rooms', 'header', 'messages', 'members', 'typing', 'invitation']) changed(what);
}

/** Open a room: show it at once, then join it on the server and load its history. */
export async function openRoom(roomId, { focus = true } = {}) {
  roomId = String(roomId ?? '').trim();
  if (!roomId || !state.user) return;
  const switching = state.room !== roomId;
  if (switching) closeChat();
  state.room = roomId;
  store.set(KEYS.room, roomId);
  addRoom(roomId);
  openChat(roomId, { restoreDraft: switching });
  renderAll();
  if (focus) $('#message-input').focus();
  try {
    await app.client.joinRoom(roomId);
  } catch (e) {
    console.warn('huddle: join_room', roomId, e.code);
    if (e.code === 'forbidden') return;
  }
  // The user may have left the room or opened another while the join was on its way.
  if (state.room !== roomId) return;
  checkMeeting(roomId);
  await loadHistory(roomId);
}

async function leaveRoom() {
  const roomId = state.room;
  if (!roomId) return;
  if (app.meeting.roomId === roomId) await app.meeting.leave();
  try {
    await app.client.leaveRoom(roomId);
  } catch (e) {
    showError(e.code || 'error', errorText(e));
    return;
  }
  closeChat({ keepDraft: false });
  removeRoom(roomId);
  state.room = null;
  store.del(KEYS.room);
  notice(`You left #${roomId}.`);
  renderAll();
  $('#room-input').focus();
}

function refreshRooms() {
  savedRooms().forEach(addRoom);
  app.client.rooms()
    .then((rooms) => rooms.map((r) => (typeof r === 'string' ? r : r?.id || r?.roomId)).forEach(addRoom))
    .catch((e) => console.debug('huddle: get_rooms unavailable, using the local list', e.code));
}

export function init() {
  onChange('rooms', renderRooms);
  onChange('header', renderHeader);
  onChange('members', renderRoomCount);
  onChange('signed-out', renderAll);
  // Every session (a fresh one may have missed anything): the room list, and the room to show.
  // A meetingLink (`/?meeting=<roomId>`, the server's -meeting-link-base) opens its room, whose
  // active meeting then shows its invitation banner.
  onChange('session', () => {
    refreshRooms();
    const linked = pageParams.get('meeting');
    if (linked) {
      pageParams.delete('meeting');
      history.replaceState(null, '', location.pathname);
    }
    const room = linked || state.room || store.get(KEYS.room);
    if (room) openRoom(room, { focus: false });
    else renderAll();
  });

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
}
