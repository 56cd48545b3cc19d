// Connection: sign-in modes, the session, states, requests and refs, close, retryNow.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { HuddleClient, HuddleError } from '@huddle-go/client';
import { Recorder, jwt, startProxy, startServer } from './server.js';

const fast = { minBackoffMs: 20, maxBackoffMs: 200 };

describe('connection (dev auth)', () => {
  let srv;
  before(async () => { srv = await startServer(); });
  after(() => srv.kill());

  test('a display name alone signs in; the session carries the user, limits and a resume token; the state goes connecting → open', async () => {
    const c = new HuddleClient({ url: srv.url });
    const rec = new Recorder(c, ['state', 'session', 'synced']);
    c.connect({ name: 'Alice' });
    const s = await rec.wait('session');
    assert.equal(s.user.username, 'Alice'); // the name as given
    assert.equal(s.user.id, 'alice'); // the id the server derived (signaling.DevUserID)
    assert.equal(s.resumed, false); // a fresh session
    assert.ok(s.resumeToken && s.sessionId); // resumable
    assert.ok(s.limits.maxMessageBytes > 0); // the limits come with it
    assert.deepEqual(rec.all('state').map((e) => e.state), ['connecting', 'open']); // the visible states
    assert.equal(c.state, 'open');
    assert.deepEqual(c.user, s.user); // the client keeps the user
    await rec.wait('synced', (d) => d.resumed === false); // up to date at once
    c.close();
    assert.equal(c.state, 'closed'); // close() is final
  });

  test('user id and name sign in as that user; listeners unsubscribe, and the client is an EventTarget', async () => {
    const c = new HuddleClient({ url: srv.url });
    const seen = [];
    const off = c.on('state', ({ state }) => seen.push(state));
    let viaTarget = null;
    c.addEventListener('session', (e) => { viaTarget = e.detail; });
    c.connect({ user: 'u-42', name: 'Zoë' });
    const s = await c.next('session');
    assert.deepEqual(s.user, { id: 'u-42', username: 'Zoë' }); // exactly the given identity
    assert.deepEqual(viaTarget, s); // addEventListener gets the data as the CustomEvent's detail
    off();
    c.close();
    assert.deepEqual(seen, ['connecting', 'open']); // nothing after unsubscribing (closed is not seen)
  });

  test('requests resolve with the reply that carries their ref; ping is a round trip', async () => {
    const c = new HuddleClient({ url: srv.url });
    c.connect({ name: 'Pinger' });
    await c.next('session');
    await c.ping(); // pong with the same ref
    const joined = await c.joinRoom('conn-lobby');
    assert.equal(joined.roomId, 'conn-lobby'); // the typed reply
    assert.ok(joined.members.some((u) => u.id === 'pinger')); // with the joiner as a member
    const e = await c.request('get_history', { roomId: 'conn-lobby', before: 'x', after: 'y' }).catch((err) => err);
    assert.ok(e instanceof HuddleError); // a refused request rejects with a HuddleError
    assert.equal(e.code, 'bad_request'); // with the server's code
    assert.equal(e.event, 'get_history'); // and the event it answers
    c.close();
  });

  test('close() rejects what is pending with closed, and nothing is sent after it', async () => {
    const c = new HuddleClient({ url: srv.url });
    c.connect({ name: 'Closer' });
    await c.next('session');
    const pending = c.request('get_rooms', {});
    c.close();
    await assert.rejects(pending, (e) => e.code === 'closed'); // settled, not left hanging
    assert.equal(c.send('typing', { roomId: 'x', isTyping: true }), null); // nothing goes out
    await assert.rejects(c.joinRoom('x'), (e) => e.code === 'closed');
  });

  test('while the network is down the state is reconnecting, requests wait, and retryNow reconnects at once', async () => {
    const proxy = await startProxy(srv.addr);
    const c = new HuddleClient({ url: proxy.url, ...fast, maxBackoffMs: 60_000, minBackoffMs: 30_000 });
    const rec = new Recorder(c, ['state', 'session']);
    c.connect({ name: 'Flaky' });
    await rec.wait('session');
    proxy.drop({ stayDown: true });
    const down = await rec.wait('state', (d) => d.state === 'reconnecting' && d.retryInMs > 0);
    assert.ok(down.retryInMs >= 15_000); // the backoff (30 s ceiling, equal jitter) is long
    const rooms = c.rooms(); // asked while offline: waits for the connection
    proxy.up();
    c.retryNow(); // the user does not wait for the backoff
    const s = await rec.wait('session', () => true, { count: 2, ms: 5000 });
    assert.equal(s.resumed, true); // the session survived the outage
    assert.deepEqual(await rooms, []); // and the waiting request was answered
    assert.equal(c.state, 'open');
    c.close();
    await proxy.close();
  });
});

describe('connection (JWT)', () => {
  const secret = 'a-test-secret-that-is-long-enough-0123456789';
  let srv;
  before(async () => { srv = await startServer(['-jwt-secret', secret]); });
  after(() => srv.kill());

  test('a token signs in as its subject', async () => {
    const c = new HuddleClient({ url: srv.url });
    c.connect({ token: jwt(secret, { sub: 'u1', username: 'Una' }) });
    const s = await c.next('session');
    assert.deepEqual(s.user, { id: 'u1', username: 'Una' }); // sub and username claims
    c.close();
  });

  test('a refused token ends in auth_failed and the closed state, not endless retries', async () => {
    const c = new HuddleClient({ url: srv.url, ...fast });
    const rec = new Recorder(c, ['state', 'auth_failed', 'session']);
    c.connect({ token: jwt('another-secret-another-secret-another-secret', { sub: 'u1', username: 'Una' }) });
    const failed = await rec.wait('auth_failed');
    assert.equal(failed.code, 401); // the HTTP status of the refused upgrade
    assert.equal(c.state, 'closed'); // the client gave up
    assert.equal(rec.all('session').length, 0); // and never had a session
    await assert.rejects(c.ping(), (e) => e.code === 'closed');
  });
});
