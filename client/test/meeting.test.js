// Meetings (PROTOCOL.md §7) against the real server: the signaling events through typed
// requests, and the Meeting helper's lifecycle. Node has no WebRTC, so the Meeting gets a
// transport that records what it is asked to do (the mesh itself runs in the browser tests).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { HuddleClient, Meeting } from '@huddle-go/client';
import { Recorder, startProxy, startServer } from './server.js';

const fast = { minBackoffMs: 20, maxBackoffMs: 200 };
const cleanup = [];
after(async () => {
  for (const f of cleanup.reverse()) await f();
});

async function client(url, name, events = []) {
  const c = new HuddleClient({ url, ...fast });
  const rec = new Recorder(c, ['session', 'error', ...events]);
  cleanup.push(() => c.close());
  c.connect({ name });
  await rec.wait('session');
  return { c, rec };
}

/** A MediaTransport that records the calls a Meeting makes. */
class RecordingTransport {
  mode = 'mesh';
  calls = [];
  constructor(host) { this.host = host; }
  joined(others) { this.calls.push(['joined', others.map((u) => u.id)]); }
  participantJoined(user, rejoin) { this.calls.push(['participantJoined', user.id, rejoin]); }
  participantLeft(userId) { this.calls.push(['participantLeft', userId]); }
  signal(event, data) { this.calls.push(['signal', event, data.senderId, data.type]); }
  videoChanged() {}
  async trackReplaced() {}
  peerConnections() { return []; }
  audioLevels() { return new Map(); }
  close() { this.calls.push(['close']); }
}

function meetingOf(c) {
  const transports = [];
  const m = new Meeting(c, { constraints: false, transport: (host) => { const t = new RecordingTransport(host); transports.push(t); return t; } });
  const rec = new Recorder(m, ['host', 'participants', 'closed', 'local_stream']);
  return { m, rec, transports, last: () => transports[transports.length - 1] };
}

/** Resolves when the recording transport got a call for which pred holds. */
async function waitCall(getT, pred, ms = 10_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const t = getT();
    if (t && t.calls.some(pred)) return;
    if (Date.now() > deadline) throw new Error(`no such transport call; got ${JSON.stringify(t?.calls)}`);
    await new Promise((r) => setTimeout(r, 20)); // polls a local array only, bounded by the deadline
  }
}

describe('meeting signaling', () => {
  let srv;
  before(async () => { srv = await startServer(); });
  after(() => srv.kill());

  test('start, invitation, join, offer relay with the sender set by the server, media state, leave, stop', async () => {
    const ev = ['meeting_started', 'meeting_invitation', 'meeting_user_joined', 'meeting_user_left', 'video-signal', 'media_state', 'meeting_ended'];
    const { c: hana, rec: hanaRec } = await client(srv.url, 'Hana', ev);
    const { c: gus, rec: gusRec } = await client(srv.url, 'Gus', ev);
    const { c: ivy } = await client(srv.url, 'Ivy');
    for (const c of [hana, gus, ivy]) await c.joinRoom('m1');

    const started = await hana.request('start_meeting', { roomId: 'm1' });
    assert.deepEqual([started.roomId, started.host.id, started.status], ['m1', 'hana', 'active']); // the host's meeting
    const inv = await gusRec.wait('meeting_invitation', (d) => d.roomId === 'm1');
    assert.deepEqual([inv.status, inv.host.id], ['active', 'hana']); // members are invited
    await assert.rejects(gus.request('start_meeting', { roomId: 'm1' }), (e) => e.code === 'conflict'); // one meeting per room

    const joined = await gus.request('join_meeting', { roomId: 'm1' });
    assert.deepEqual(joined.participants.map((p) => p.id).sort(), ['gus', 'hana']); // both are in
    const uj = await hanaRec.wait('meeting_user_joined', (d) => d.user.id === 'gus');
    assert.equal(uj.roomId, 'm1'); // the host hears of the joiner: it offers

    hana.send('video-signal', { type: 'offer', roomId: 'm1', targetId: 'gus', sdp: 'v=0\r\n', senderId: 'mallory' });
    const sig = await gusRec.wait('video-signal');
    assert.deepEqual([sig.type, sig.senderId, sig.sdp], ['offer', 'hana', 'v=0\r\n']); // relayed with the real sender
    await assert.rejects(ivy.request('stop_meeting', { roomId: 'm1' }), (e) => e.code === 'forbidden'); // not the host
    const ref = ivy.send('video-signal', { type: 'offer', roomId: 'm1', targetId: 'gus', sdp: 'v=0\r\n' });
    assert.ok(ref);
    await ivy.ping();

    gus.send('media_state', { roomId: 'm1', audio: false, video: true, screen: false });
    const ms = await hanaRec.wait('media_state', (d) => d.user.id === 'gus');
    assert.deepEqual([ms.audio, ms.video, ms.screen], [false, true, false]); // what Gus sends
    const info = await ivy.roomInfo('m1');
    assert.equal(info.status, 'active');
    assert.equal(info.participants.find((p) => p.id === 'gus')?.audio, false); // kept in the participant record

    gus.send('leave_meeting', { roomId: 'm1' });
    await hanaRec.wait('meeting_user_left', (d) => d.user.id === 'gus'); // the others are told
    const inactive = await hana.request('stop_meeting', { roomId: 'm1' }); // the inactive invitation confirms
    assert.equal(inactive.status, 'inactive');
    const ended = await gusRec.wait('meeting_ended', (d) => d.roomId === 'm1');
    assert.equal(ended.reason, 'stopped'); // why it ended
    await gusRec.wait('meeting_invitation', (d) => d.roomId === 'm1' && d.status === 'inactive'); // the invitation is revoked
    assert.equal((await ivy.roomInfo('m1')).status, 'inactive');
  });

  test('a video-signal from a member who is not a participant is refused', async () => {
    const { c: host } = await client(srv.url, 'Host2');
    const { c: out, rec } = await client(srv.url, 'Outsider');
    await host.joinRoom('m2');
    await out.joinRoom('m2');
    await host.request('start_meeting', { roomId: 'm2' });
    const ref = out.send('video-signal', { type: 'offer', roomId: 'm2', targetId: 'host2', sdp: 'v=0\r\n' });
    const e = await rec.wait('error', (d) => d.ref === ref);
    assert.equal(e.code, 'forbidden'); // both ends must be participants
  });
});

describe('Meeting', () => {
  test('start and join: the host learns of the joiner and is asked to connect; participants and media states are kept; stop closes both', async () => {
    const srv = await startServer();
    cleanup.push(() => srv.kill());
    const { c: hc } = await client(srv.url, 'Hope');
    const { c: gc } = await client(srv.url, 'Gil');
    const host = meetingOf(hc);
    const guest = meetingOf(gc);
    await hc.joinRoom('mm');
    await gc.joinRoom('mm');
    await host.m.start('mm');
    assert.equal(host.m.isHost, true); // the starter hosts
    assert.deepEqual(host.rec.all('host').at(-1), { roomId: 'mm', isHost: true });
    await guest.m.join('mm');
    assert.equal(guest.m.isHost, false);
    assert.deepEqual(guest.last().calls[0], ['joined', ['hope']]); // the joiner waits for Hope's offer
    await waitCall(host.last, (c) => c[0] === 'participantJoined' && c[1] === 'gil' && c[2] === false); // Hope offers
    assert.deepEqual([...host.m.participants.keys()], ['gil']);
    // The guest joined receive-only: its media state says so, and the host's participant record follows.
    await host.rec.wait('participants', (d) => d.participants.some((p) => p.id === 'gil' && p.audio === false && p.video === false));
    await host.m.stop();
    assert.deepEqual(host.rec.all('closed'), [{ roomId: 'mm', reason: 'stopped' }]); // the host ended it
    const closed = await guest.rec.wait('closed');
    assert.deepEqual(closed, { roomId: 'mm', reason: 'ended' }); // and the guest was told
    assert.equal(guest.m.roomId, null);
    assert.equal(guest.last().calls.at(-1)[0], 'close'); // its transport was closed

    // dispose() in a call leaves it: the others are told.
    await host.m.start('mm');
    await guest.m.join('mm');
    const hostEvents = new Recorder(hc, ['meeting_user_left']);
    guest.m.dispose();
    await hostEvents.wait('meeting_user_left', (d) => d.user.id === 'gil');
    assert.deepEqual(guest.rec.all('closed').at(-1), { roomId: 'mm', reason: 'left' }); // it left
  });

  test('after a refused resume the meeting is rejoined (the others see a rejoin); when it ended meanwhile the call closes with not_found', async () => {
    const srv = await startServer(['-resume-window', '1s']);
    cleanup.push(() => srv.kill());
    const proxy = await startProxy(srv.addr);
    cleanup.push(() => proxy.close());
    const { c: hc, rec: hRec } = await client(srv.url, 'Hope', ['meeting_user_joined', 'presence']);
    const { c: gc } = await client(proxy.url, 'Gil', ['resync']);
    const host = meetingOf(hc);
    const guest = meetingOf(gc);
    await hc.joinRoom('mr');
    await gc.joinRoom('mr');
    await host.m.start('mr');
    await guest.m.join('mr');
    await hRec.wait('meeting_user_joined', (d) => d.user.id === 'gil');

    proxy.drop({ stayDown: true });
    await hRec.wait('presence', (p) => p.user.id === 'gil' && p.status === 'offline'); // the session is gone
    proxy.up();
    gc.retryNow();
    const again = await hRec.wait('meeting_user_joined', (d) => d.user.id === 'gil', { count: 2 });
    assert.equal(again.rejoin, true); // the fresh session rejoined the call by itself
    assert.equal(guest.m.roomId, 'mr'); // still in it
    assert.deepEqual(guest.transports.length, 2); // on a fresh transport
    await waitCall(host.last, (c) => c[0] === 'participantJoined' && c[1] === 'gil' && c[2] === true); // the host reconnects

    proxy.drop({ stayDown: true });
    await hRec.wait('presence', (p) => p.user.id === 'gil' && p.status === 'offline', { count: 2 });
    await host.m.stop(); // ended while Gil is away: he hears nothing of it
    proxy.up();
    gc.retryNow();
    const closed = await guest.rec.wait('closed');
    assert.deepEqual(closed, { roomId: 'mr', reason: 'not_found' }); // the rejoin found no meeting
    assert.equal(guest.m.roomId, null);
  });
});
