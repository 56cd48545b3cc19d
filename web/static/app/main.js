// The Huddle page: chat rooms, presence and meetings on @huddle-go/client (../client/).
// Each module owns one part of the page and listens for changes (state.js) rather than calling
// the others' renderers:
//   session.js   sign-in, the connection's state, away when idle
//   rooms.js     the room list and the open room's header
//   chat.js      messages, history, composer, drafts, typing
//   people.js    members and presence
//   meetings.js  LIVE badges, the invitation banner, Start/Join buttons
//   call.js      the call view: tiles, controls, devices, notices
//   notices.js   error toasts and notices
//   testhooks.js window.huddle, for tests and the console
import { HuddleClient, Meeting } from '../client/index.js';
import * as call from './call.js';
import * as chat from './chat.js';
import * as meetings from './meetings.js';
import * as notices from './notices.js';
import * as people from './people.js';
import * as rooms from './rooms.js';
import * as session from './session.js';
import { app, state } from './state.js';
import * as testhooks from './testhooks.js';

// config.json (served by the Go web package) says how to sign in and where the socket is.
async function loadConfig() {
  try {
    const res = await fetch('config.json', { cache: 'no-store' });
    const cfg = await res.json();
    state.mode = cfg.auth === 'jwt' ? 'jwt' : cfg.auth === 'dev' ? 'dev' : 'any';
    if (cfg.wsUrl) state.wsUrl = cfg.wsUrl;
    state.iceTransportPolicy = cfg.iceTransportPolicy || 'all';
  } catch (e) {
    console.warn('huddle: config.json unavailable; offering both sign-in methods', e);
    state.mode = 'any';
  }
}

async function boot() {
  if (sessionStorage.getItem('huddle.auth')) document.body.dataset.state = 'connecting'; // signing back in
  await loadConfig();
  app.client = new HuddleClient({ url: state.wsUrl || '/ws' });
  // The meeting first: it handles each event before the views see it.
  app.meeting = new Meeting(app.client, { iceTransportPolicy: state.iceTransportPolicy });
  for (const m of [notices, session, rooms, chat, people, meetings, call, testhooks]) m.init();
  rooms.renderAll();
  session.restore();
}

boot();
