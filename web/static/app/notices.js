// Toasts (errors, with an optional action) and notices (what happened), and the server's
// errors in words a user understands.
import { $ } from './dom.js';
import { app, state } from './state.js';

let toastTimer;
let noticeTimer;

/** Show an error in the #error toast (its text and data-code stay after it hides). */
export function showError(code, text, { action, sticky = false } = {}) {
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

/** Hide the toast (only if it shows `code`, when given). */
export function hideToast(code) {
  if (code && $('#error').dataset.code !== code) return;
  clearTimeout(toastTimer);
  $('#toast').hidden = true;
}

/** A passing notice ("Bob joined the call."). */
export function notice(text) {
  state.notices.push(text);
  const n = $('#notice');
  n.textContent = text;
  n.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => { n.hidden = true; }, 5000);
}

/** The text for a HuddleError or an `error` event. */
export function errorText(e) {
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

export function init() {
  $('#toast-close').addEventListener('click', () => hideToast());
  app.client.on('error', (e) => {
    if (e.code === 'target_unavailable' || e.code === 'unknown_event') {
      console.debug('huddle: ignored error', e);
      return;
    }
    console.warn('huddle: server error', e);
    showError(e.code || 'error', errorText(e));
  });
}
