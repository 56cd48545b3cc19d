// The call view: the video tiles, the controls (mic, camera, screen, devices, leave, end for
// all), the participant list, and what happens around a call (start, join, rejoin after a
// reload, notices). The media itself is the Meeting's (client/meeting).
import { $, avatar, h } from './dom.js';
import { lastEnded, meetingGone } from './meetings.js';
import { errorText, notice, showError } from './notices.js';
import { openRoom } from './rooms.js';
import { KEYS, app, changed, me, nameOf, onChange, quiet, state, store } from './state.js';

const SPEAKER_EVERY_MS = 400;
const SPEAKER_LEVEL = 0.02; // audio level above which a participant counts as speaking
const CONN_TEXT = { new: 'Connecting…', connecting: 'Connecting…', disconnected: 'Reconnecting…', failed: 'Reconnecting…' };

const peerStates = new Map(); // userId -> RTCPeerConnectionState of its tile
const mediaStates = new Map(); // userId -> {audio, video, screen}

// ---- entering and leaving ------------------------------------------------------------------------

function enterCall(roomId) {
  if (app.meeting.roomId !== roomId) return; // closed while we were waiting
  state.call = { roomId };
  store.set(KEYS.meeting, { roomId, isHost: app.meeting.isHost });
  const view = $('#meeting');
  view.hidden = false;
  view.dataset.state = 'in-call';
  document.body.classList.add('in-call');
  renderControls();
  renderParticipants();
  changed('invitation');
  changed('header');
  fillDevices();
  startSpeakerWatch();
}

function exitCall() {
  state.call = null;
  store.del(KEYS.meeting);
  const view = $('#meeting');
  view.hidden = true;
  view.dataset.state = 'idle';
  document.body.classList.remove('in-call');
  $('#remote-videos').replaceChildren();
  $('#local-video').srcObject = null;
  $('#sound-hint').hidden = true;
  peerStates.clear();
  stopSpeakerWatch();
  renderControls();
  renderParticipants();
  changed('invitation');
  changed('header');
}

async function startMeeting() {
  const roomId = state.room;
  if (!roomId || state.call || state.busy) return;
  state.busy = true;
  changed('header');
  try {
    await app.meeting.start(roomId);
    enterCall(roomId);
  } catch (e) {
    if (e.code === 'conflict') {
      showError('conflict', 'A meeting is already running in this room.', { action: { label: 'Join instead', run: () => joinMeeting(roomId) } });
    } else if (e.code === 'timeout') showError('timeout', errorText(e));
  } finally {
    state.busy = false;
    changed('header');
  }
}

/** Join the meeting of roomId (opening the room), or rejoin it after a reload. */
export async function joinMeeting(roomId, { isHost = false } = {}) {
  if (!roomId || state.busy || state.call?.roomId === roomId) return;
  state.busy = true;
  changed('header');
  if (state.room !== roomId) openRoom(roomId, { focus: false });
  try {
    await app.meeting.join(roomId, { isHost });
    enterCall(roomId);
  } catch (e) {
    if (e.code === 'not_found' || e.code === 'forbidden' || e.code === 'meeting_full') {
      const wasIn = store.get(KEYS.meeting)?.roomId === roomId;
      store.del(KEYS.meeting);
      if (e.code === 'not_found') {
        meetingGone(roomId);
        if (wasIn) notice(`The meeting in #${roomId} has ended.`);
      }
    } else if (e.code === 'timeout') showError('timeout', errorText(e));
    changed('invitation');
    changed('rooms');
  } finally {
    state.busy = false;
    changed('header');
  }
}

// After a reload the saved call is joined again: media flows anew.
function maybeRejoin() {
  const saved = store.get(KEYS.meeting);
  if (saved?.roomId && !app.meeting.roomId && !state.busy) joinMeeting(saved.roomId, { isHost: !!saved.isHost });
}

function endedText(roomId) {
  const host = state.hosts.get(roomId);
  const reason = lastEnded?.roomId === roomId ? lastEnded.reason : null;
  if (reason === 'host_left' && host && host.id !== me()) return `${nameOf(host.id)} (the host) left; the meeting has ended.`;
  if (reason === 'empty') return `The meeting in #${roomId} ended: nobody was left.`;
  if (reason === 'stopped' && host && host.id !== me()) return `${nameOf(host.id)} ended the meeting for everyone.`;
  return `The meeting in #${roomId} has ended.`;
}

function onClosed({ roomId, reason }) {
  if (!state.call && store.get(KEYS.meeting)?.roomId !== roomId) return;
  exitCall();
  if (reason === 'ended' || reason === 'not_found') {
    // not_found: a rejoin after the server came back found the meeting gone.
    meetingGone(roomId);
    notice(endedText(roomId));
  } else if (reason === 'left') notice(`You left the meeting in #${roomId}.`);
  else if (reason === 'stopped') notice(`You ended the meeting in #${roomId} for everyone.`);
}

// ---- tiles ---------------------------------------------------------------------------------------

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

function applyConnState(tile, userId) {
  if (!tile) return;
  const st = peerStates.get(userId) || 'new';
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
  applyMediaState(tile, mediaStates.get(userId) || app.meeting.participants.get(userId) || { audio: true, video: true, screen: false });
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

function setLocalPreview(stream) {
  const v = $('#local-video');
  v.muted = true; // the local preview is always muted, whatever the mic toggle says
  v.srcObject = stream;
  v.classList.toggle('mirror', !app.meeting.screenTrack);
  if (stream) playVideo(v);
  renderControls();
}

// Highlight who speaks: the loudest remote audio above a threshold.
let speakerTimer = null;
function startSpeakerWatch() {
  stopSpeakerWatch();
  speakerTimer = setInterval(() => {
    let top = null;
    let max = SPEAKER_LEVEL;
    for (const [id, level] of app.meeting.audioLevels()) if (level > max && mediaStates.get(id)?.audio !== false) { top = id; max = level; }
    for (const tile of document.querySelectorAll('#remote-videos .tile')) tile.classList.toggle('speaking', tile.dataset.user === top);
  }, SPEAKER_EVERY_MS);
}
function stopSpeakerWatch() {
  clearInterval(speakerTimer);
  speakerTimer = null;
}

// ---- controls and the participant list -------------------------------------------------------------

function renderControls() {
  const m = app.meeting;
  const set = (btn, on, available, onLabel, offLabel) => {
    btn.disabled = !available;
    btn.setAttribute('aria-pressed', String(on));
    btn.dataset.on = String(on);
    btn.querySelector('.label').textContent = on ? onLabel : offLabel;
    btn.setAttribute('aria-label', on ? onLabel : offLabel); // the text is hidden on narrow screens
  };
  set($('#toggle-mic'), m.micEnabled, !!m.audioTrack, 'Mute', 'Unmute');
  set($('#toggle-cam'), m.cameraEnabled, !!m.cameraTrack, 'Stop video', 'Start video');
  set($('#toggle-screen'), !!m.screenTrack, !!navigator.mediaDevices?.getDisplayMedia, 'Stop sharing', 'Share screen');
  $('#stop-meeting').hidden = !m.isHost;
  $('#leave-meeting').title = m.isHost ? 'Leave the call; the meeting goes on without you' : 'Leave the call';
  const local = document.querySelector('.tile.local');
  local.dataset.user = me() || '';
  local.querySelector('.placeholder').replaceChildren(avatar(state.user || { id: '?' }, 'big'));
  applyMediaState(local, { audio: m.micEnabled, video: m.cameraEnabled, screen: !!m.screenTrack });
}

function renderParticipants() {
  const roomId = state.call?.roomId;
  const people = roomId ? [state.user, ...app.meeting.participants.values()].filter(Boolean) : [];
  $('#meeting-title').textContent = roomId ? `Meeting in #${roomId}` : '';
  $('#participant-count').textContent = roomId ? `${people.length} in call` : '';
  const host = state.hosts.get(roomId)?.id;
  $('#participants').replaceChildren(...people.map((u) => h('li', { class: 'participant', 'data-user': u.id },
    avatar(u), h('span', {}, u.id === me() ? `${nameOf(u.id)} (you)` : nameOf(u.id)),
    u.id === host && h('span', { class: 'host-tag' }, 'host'))));
  layoutTiles();
}

async function fillDevices() {
  if (!navigator.mediaDevices?.enumerateDevices) return;
  let devices = [];
  try { devices = await navigator.mediaDevices.enumerateDevices(); } catch { return; }
  const m = app.meeting;
  const fill = (sel, kind, current) => {
    const list = devices.filter((d) => d.kind === kind);
    sel.replaceChildren(...list.map((d, i) => h('option', { value: d.deviceId, selected: d.deviceId === current }, d.label || `${kind === 'videoinput' ? 'Camera' : 'Microphone'} ${i + 1}`)));
    sel.disabled = list.length < 2;
    sel.parentElement.hidden = list.length === 0;
  };
  fill($('#camera-select'), 'videoinput', m.cameraTrack?.getSettings?.().deviceId);
  fill($('#mic-select'), 'audioinput', m.audioTrack?.getSettings?.().deviceId);
}

async function switchDevice(kind, deviceId) {
  try {
    await app.meeting.useDevice(kind, deviceId);
  } catch {
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

export function init() {
  const { client, meeting } = app;
  meeting.on('host', ({ roomId, isHost }) => {
    if (state.call) store.set(KEYS.meeting, { roomId: state.call.roomId, isHost });
    if (isHost && roomId) state.hosts.set(roomId, state.user);
    renderControls();
    renderParticipants();
  });
  meeting.on('participants', () => renderParticipants());
  meeting.on('participant_joined', ({ roomId, user, rejoin, known }) => {
    if (roomId !== state.call?.roomId) return;
    if (!known && !rejoin) notice(`${nameOf(user.id)} joined the call.`);
  });
  meeting.on('participant_left', ({ roomId, user }) => {
    if (roomId !== state.call?.roomId || !user?.id) return;
    peerStates.delete(user.id);
    tileOf(user.id)?.remove();
    // The server's host policy decides what a host's Leave means; a leave_meeting keeps the
    // meeting going (an ended meeting comes as meeting_ended instead, see endedText).
    if (state.hosts.get(roomId)?.id === user.id) notice(`${nameOf(user.id)} (the host) left; the meeting continues.`);
    else notice(`${nameOf(user.id)} left the call.`);
    renderParticipants();
  });
  client.on('meeting_host_changed', (d) => {
    if (d?.roomId === state.call?.roomId && d?.host) notice(`${d.host.id === me() ? 'You are' : `${nameOf(d.host.id)} is`} now the host.`);
    renderParticipants();
  });
  client.on('media_state', (d) => {
    if (!d?.user?.id) return;
    mediaStates.set(d.user.id, d);
    applyMediaState(tileOf(d.user.id), d);
  });
  meeting.on('remote_stream', ({ userId, stream }) => upsertTile(userId, stream));
  meeting.on('peer_state', ({ userId, state: st }) => {
    peerStates.set(userId, st);
    if (state.call) applyConnState(ensureTile(userId), userId);
  });
  // A replaced connection (reload, rejoin) keeps the tile while the participant is still in
  // the call; participant_left removes it.
  meeting.on('remote_left', ({ userId }) => {
    if (!meeting.participants.has(userId)) tileOf(userId)?.remove();
    else {
      peerStates.set(userId, 'connecting');
      applyConnState(tileOf(userId), userId);
    }
    layoutTiles();
  });
  meeting.on('local_stream', ({ stream }) => setLocalPreview(stream));
  meeting.on('media_error', onMediaError);
  meeting.on('closed', onClosed);
  client.on('synced', maybeRejoin);
  onChange('user', (u) => {
    const tile = tileOf(u.id);
    if (!tile) return;
    tile.querySelector('.name').textContent = nameOf(u.id);
    tile.querySelector('.placeholder').replaceChildren(avatar(u, 'big'));
  });
  onChange('signed-out', () => {
    exitCall();
    mediaStates.clear();
  });

  $('#start-meeting').addEventListener('click', startMeeting);
  $('#join-live').addEventListener('click', () => joinMeeting(state.room));
  $('#invitation-join').addEventListener('click', () => joinMeeting($('#invitation').dataset.room));
  $('#copy-link').addEventListener('click', copyMeetingLink);
  $('#camera-select').addEventListener('change', (e) => switchDevice('video', e.target.value));
  $('#mic-select').addEventListener('change', (e) => switchDevice('audio', e.target.value));
  navigator.mediaDevices?.addEventListener?.('devicechange', () => { if (state.call) fillDevices(); });
  new ResizeObserver(() => layoutTiles()).observe($('#video-grid'));
  $('#toggle-mic').addEventListener('click', () => { meeting.setMicEnabled(!meeting.micEnabled); renderControls(); });
  $('#toggle-cam').addEventListener('click', () => { meeting.setCameraEnabled(!meeting.cameraEnabled); renderControls(); });
  $('#toggle-screen').addEventListener('click', async () => {
    try {
      if (meeting.screenTrack) meeting.stopScreenShare();
      else await meeting.startScreenShare();
    } catch (e) {
      console.warn('huddle: screen share', e);
      if (e.name !== 'NotAllowedError' && e.name !== 'AbortError') showError('screen_unavailable', screenErrorText(e));
    }
    renderControls();
  });
  $('#leave-meeting').addEventListener('click', () => quiet(meeting.leave()));
  const confirmEnd = $('#confirm-end');
  $('#stop-meeting').addEventListener('click', () => {
    if (typeof confirmEnd.showModal === 'function') confirmEnd.showModal();
    else if (window.confirm('End the meeting for everyone?')) quiet(meeting.stop());
  });
  confirmEnd.addEventListener('close', () => {
    if (confirmEnd.returnValue === 'end') quiet(meeting.stop());
    confirmEnd.returnValue = '';
    $('#stop-meeting').focus();
  });
  $('#sound-hint').addEventListener('click', () => {
    document.querySelectorAll('#remote-videos video').forEach((v) => { v.muted = false; v.play().catch(() => {}); });
    $('#sound-hint').hidden = true;
  });
}
