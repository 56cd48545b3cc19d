// Chat and presence against the real server: delivery, history, typing, presence, errors.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { HuddleClient, HuddleError } from '@huddle-go/client';
import { Recorder, startServer } from './server.js';

let srv;
const clients = [];

async function signIn(name, events = []) {
  const c = new HuddleClient({ url: srv.url });
  clients.push(c);
  const rec = new Recorder(c, ['session', 'message', 'error', ...events]);
  c.connect({ name });
  await rec.wait('session');
  return { c, rec };
}

describe('chat', () => {
  before(async () => { srv = await startServer(['-max-message-bytes', '64']); });
  after(async () => {
    clients.forEach((c) => c.close());
    await srv.kill();
  });

  test('a message is echoed to its sender and delivered once to the other member; a repeated clientMsgId stores it once', async () => {
    const { c: ann, rec: annRec } = await signIn('Ann');
    const { c: ben, rec: benRec } = await signIn('Ben', ['member_joined']);
    await ben.joinRoom('r1');
    await ann.joinRoom('r1');
    const joined = await benRec.wait('member_joined', (d) => d.roomId === 'r1');
    assert.equal(joined.user.id, 'ann'); // Ben sees Ann join before she says anything
    const m = await ann.sendMessage('r1', 'hello', { clientMsgId: 'cm-1' });
    assert.equal(m.content, 'hello'); // the stored message is the reply
    assert.equal(m.sender.id, 'ann'); // with the sender the server set
    assert.match(m.id, /^[0-9a-f-]{36}$/); // and the server's id
    const got = await benRec.wait('message', (d) => d.id === m.id);
    assert.deepEqual(got, m); // Ben gets the same message
    const again = await ann.sendMessage('r1', 'hello', { clientMsgId: 'cm-1' });
    assert.equal(again.id, m.id); // the retry yields the stored message, not a new one
    await ben.ping(); // a barrier: anything sent before the pong has arrived
    assert.equal(benRec.all('message', (d) => d.clientMsgId === 'cm-1').length, 1); // Ben got it once
    assert.equal(annRec.all('message', (d) => d.clientMsgId === 'cm-1').length, 1); // so did Ann's own listeners
  });

  test('history pages back with before and forward with after, oldest first', async () => {
    const { c } = await signIn('Hal');
    await c.joinRoom('hist');
    const sent = [];
    for (let i = 0; i < 5; i++) sent.push(await c.sendMessage('hist', `m${i}`));
    const newest = await c.history('hist', { limit: 2 });
    assert.deepEqual(newest.messages.map((m) => m.content), ['m3', 'm4']); // the newest two, oldest first
    assert.equal(newest.hasMore, true); // older ones exist
    const older = await c.history('hist', { before: newest.messages[0].id, limit: 10 });
    assert.deepEqual(older.messages.map((m) => m.content), ['m0', 'm1', 'm2']);
    assert.equal(older.hasMore, false); // the beginning
    const fwd = await c.history('hist', { after: sent[1].id, limit: 2 });
    assert.deepEqual(fwd.messages.map((m) => m.content), ['m2', 'm3']); // the oldest two after m1
    assert.equal(fwd.hasMore, true); // newer ones exist
  });

  test('typing reaches the other members, not the typer', async () => {
    const { c: tia, rec: tiaRec } = await signIn('Tia', ['typing']);
    const { c: tom, rec: tomRec } = await signIn('Tom', ['typing']);
    await tia.joinRoom('typing-room');
    await tom.joinRoom('typing-room');
    tia.setTyping('typing-room', true);
    const t = await tomRec.wait('typing');
    assert.deepEqual([t.roomId, t.user.id, t.isTyping], ['typing-room', 'tia', true]); // who types where
    tia.setTyping('typing-room', false);
    await tomRec.wait('typing', (d) => d.isTyping === false); // and when it stops
    await tia.ping();
    assert.equal(tiaRec.all('typing').length, 0); // the typer hears nothing of its own
  });

  test('presence: the snapshot at session start, then online and offline as co-members come and go', async () => {
    const { c: pia } = await signIn('Pia');
    await pia.joinRoom('presence-room');
    const paul = new HuddleClient({ url: srv.url });
    clients.push(paul);
    const paulRec = new Recorder(paul, ['presence_snapshot']);
    paul.connect({ name: 'Paul' });
    const first = await paulRec.wait('presence_snapshot');
    assert.equal(first.users.some((u) => u.user.id === 'pia'), false); // no shared room yet
    await paul.joinRoom('presence-room');
    const piaRec = new Recorder(pia, ['presence']);
    const snap = await paul.presence('presence-room');
    assert.equal(snap.users.find((u) => u.user.id === 'pia')?.status, 'online'); // asked: Pia is online
    paul.setStatus('away');
    await piaRec.wait('presence', (d) => d.user.id === 'paul' && d.status === 'away'); // a chosen status
    paul.close(); // 1000: the session ends at once, no resume window
    const gone = await piaRec.wait('presence', (d) => d.user.id === 'paul' && d.status === 'offline');
    assert.ok(gone.lastSeen); // with when he was last seen
  });

  test('errors come with codes: the request rejects, and an error event carries its ref', async () => {
    const { c: eve, rec } = await signIn('Eve');
    const { c: owner } = await signIn('Owner');
    await owner.joinRoom('private-ish');
    await owner.sendMessage('private-ish', 'first');
    const codeOf = (p) => p.then(() => 'resolved', (e) => (e instanceof HuddleError ? e.code : `not a HuddleError: ${e}`));
    assert.equal(await codeOf(eve.history('private-ish')), 'forbidden'); // not a member
    await eve.joinRoom('eve-room');
    assert.equal(await codeOf(eve.history('eve-room', { before: 'a', after: 'b' })), 'bad_request'); // both cursors
    assert.equal(await codeOf(eve.history('eve-room', { after: '01900000-0000-7000-8000-000000000000' })), 'not_found'); // a cursor of no message here
    assert.equal(await codeOf(eve.sendMessage('eve-room', 'x'.repeat(65))), 'too_large'); // over -max-message-bytes 64
    assert.equal(await codeOf(eve.sendMessage('eve-room', '')), 'bad_request'); // empty content
    assert.equal(await codeOf(eve.request('no_such_event', {}, { reply: 'pong' })), 'unknown_event'); // an untyped request
    assert.equal(await codeOf(eve.request('stop_meeting', { roomId: 'eve-room' })), 'not_found'); // no meeting here
    const ref = eve.send('start_meeting', { roomId: 'private-ish' }); // fire and forget
    const e = await rec.wait('error', (d) => d.ref === ref);
    assert.equal(e.code, 'forbidden'); // the error event names the code
    assert.equal(e.event, 'start_meeting'); // and the event it answers
    assert.equal(eve.state, 'open'); // the connection survives every error
  });
});
