// The page's shared model: who is signed in, the rooms, the people, and a change bus. Views
// listen for changes (onChange) and re-render; they never call each other's renderers, so the
// chat view (chat.js) and the call view (call.js) can change independently.

/** The client and meeting (client/), set by main.js before any module's init. */
export const app = { client: null, meeting: null };

export const pageParams = new URLSearchParams(location.search);

/** sessionStorage, as JSON: a reload signs in again, resumes, and rejoins the call. */
export const store = {
  get(k) { try { return JSON.parse(sessionStorage.getItem(k)); } catch { return null; } },
  set(k, v) { sessionStorage.setItem(k, JSON.stringify(v)); },
  del(k) { sessionStorage.removeItem(k); },
};
export const KEYS = {
  auth: 'huddle.auth', // the sign-in
  room: 'huddle.room', // the open room
  meeting: 'huddle.meeting', // {roomId, isHost} while in a call, to rejoin after a reload
};

export const state = {
  mode: null, // sign-in mode from config.json: "dev" | "jwt" | "any"
  wsUrl: null,
  iceTransportPolicy: 'all',
  user: null, // the signed-in User
  room: null, // the open room
  rooms: [], // the user's rooms, sorted
  users: new Map(), // userId -> User
  members: new Map(), // roomId -> Set<userId>
  presence: new Map(), // userId -> {status, lastSeen}
  myStatus: 'online', // our own presence: online | away
  filter: '', // the room search box
  call: null, // {roomId} while the call view is open (call.js)
  busy: false, // a start or join is in flight
  invitations: new Map(), // roomId -> ActiveMeeting of a meeting running there (+ self: true when we host it elsewhere)
  hosts: new Map(), // roomId -> host User of its active meeting
  notices: [], // every notice shown, oldest first (read by tests through window.huddle)
};

const bus = new EventTarget();

/**
 * Announce a change: 'rooms' (list, unread, live badges), 'header' (the open room's header),
 * 'messages', 'typing', 'members', 'invitation', 'user' (a User's name), 'room-opened',
 * 'signed-out'.
 */
export function changed(what, detail) {
  bus.dispatchEvent(new CustomEvent(what, { detail }));
}

/** Listen for a change. */
export function onChange(what, fn) {
  bus.addEventListener(what, (e) => fn(e.detail));
}

export const me = () => state.user?.id;
export const nameOf = (id) => state.users.get(id)?.username || id;

/** Learn a user's display name. */
export function rememberUser(u) {
  if (!u?.id) return;
  const known = state.users.get(u.id);
  if (known?.username === u.username) return;
  state.users.set(u.id, { ...known, ...u });
  changed('user', state.users.get(u.id));
}

/** The members known of a room (a Set of user ids). */
export function membersOf(roomId) {
  if (!state.members.has(roomId)) state.members.set(roomId, new Set());
  return state.members.get(roomId);
}

const roomsKey = () => `huddle.rooms.${me()}`;

/** Add a room to the list (kept in localStorage per user, for a quick first render). */
export function addRoom(id) {
  if (!id || state.rooms.includes(id)) return;
  state.rooms.push(id);
  state.rooms.sort((a, b) => a.localeCompare(b));
  if (me()) localStorage.setItem(roomsKey(), JSON.stringify(state.rooms));
  changed('rooms');
}

export function removeRoom(id) {
  state.rooms = state.rooms.filter((r) => r !== id);
  if (me()) localStorage.setItem(roomsKey(), JSON.stringify(state.rooms));
  state.members.delete(id);
  changed('room-removed', id);
  changed('rooms');
}

/** The rooms list remembered for this user. */
export function savedRooms() {
  try { return JSON.parse(localStorage.getItem(roomsKey()) || '[]'); } catch { return []; }
}

/** Log a rejected promise at debug level and go on. */
export const quiet = (p) => p.catch((e) => console.debug('huddle:', e?.code || e));
