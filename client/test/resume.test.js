// Resume and re-sync (PROTOCOL.md §4) across real network loss (a TCP proxy that cuts the
// connection), an expired resume window, a server restart, and a "page reload".
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { HuddleClient, MemoryStorage } from '@huddle-go/client';
import { Recorder, startProxy, startServer } from './server.js';

const fast = { minBackoffMs: 20, maxBackoffMs: 200 };
const cleanup = [];
after(async () => {
  for (const f of cleanup.reverse()) await f();
});

async function client(url, name, opts = {}) {
  const c = new HuddleClient({ url, ...fast, ...opts });
  const rec = new Recorder(c, ['session', 'resumed', 'resync', 'resynced', 'message', 'state', 'synced', 'presence']);
  cleanup.push(() => c.close());
  c.connect({ name });
  await rec.wait('session');
  return { c, rec };
}

const contents = (rec, roomId) => rec.all('message', (m) => m.roomId === roomId).map((m) => m.content);

describe('resume', () => {
  test('a dropped connection resumes: the events missed are replayed once, in order', async () => {
    const srv = await startServer();
    cleanup.push(() => srv.kill());
    const proxy = await startProxy(srv.addr);
    cleanup.push(() => proxy.close());
    const { c: ann, rec } = await client(proxy.url, 'Ann');
    const { c: ben } = await client(srv.url, 'Ben');
    await ann.joinRoom('r');
    await ben.joinRoom('r');
    await ben.sendMessage('r', 'b0');
    await rec.wait('message', (m) => m.content === 'b0');
    const first = rec.all('session')[0];

    const ping = ann.ping().then(() => 'pong', (e) => e.code); // in flight when the network goes
    proxy.drop({ stayDown: true }); // the network goes; no close frame either way
    await rec.wait('state', (s) => s.state === 'reconnecting');
    for (const text of ['b1', 'b2', 'b3']) await ben.sendMessage('r', text);
    proxy.up();
    ann.retryNow();
    const s = await rec.wait('session', () => true, { count: 2 });
    assert.equal(s.resumed, true); // the same session continues
    assert.equal(s.sessionId, first.sessionId);
    assert.equal(await ping, 'disconnected'); // no replay answers a ping: settled at once, not by a timeout that would drop the new connection
    const done = await rec.wait('resumed');
    assert.ok(done.replayed >= 3); // the missed messages were replayed
    await rec.wait('synced', (d) => d.resumed === true);
    await ben.sendMessage('r', 'b4');
    await rec.wait('message', (m) => m.content === 'b4');
    assert.deepEqual(contents(rec, 'r'), ['b0', 'b1', 'b2', 'b3', 'b4']); // each once, in order
    assert.equal(rec.all('resync').length, 0); // nothing to re-sync after a resume
  });

  test('a new client with the same storage (a reloaded page) resumes the session', async () => {
    const srv = await startServer();
    cleanup.push(() => srv.kill());
    const storage = new MemoryStorage();
    const { c: page1, rec: rec1 } = await client(srv.url, 'Rea', { storage });
    const { c: other } = await client(srv.url, 'Obi');
    await page1.joinRoom('reload');
    await other.joinRoom('reload');
    await other.sendMessage('reload', 'before');
    await rec1.wait('message', (m) => m.content === 'before');
    page1.suspend(); // the old page goes (4001: the session waits for a resume)
    await other.sendMessage('reload', 'while reloading');
    const { rec: rec2 } = await client(srv.url, 'Rea', { storage });
    const s = rec2.all('session')[0];
    assert.equal(s.resumed, true); // the stored token and seq resumed the session
    assert.equal(s.sessionId, rec1.all('session')[0].sessionId);
    await rec2.wait('resumed');
    assert.deepEqual(contents(rec2, 'reload'), ['while reloading']); // only what the old page missed
  });

  test('a refused resume (the window passed) re-syncs: each missed message once, then live ones', async () => {
    const srv = await startServer(['-resume-window', '1s']);
    cleanup.push(() => srv.kill());
    const proxy = await startProxy(srv.addr);
    cleanup.push(() => proxy.close());
    const { c: ann, rec } = await client(proxy.url, 'Ann');
    const { c: ben, rec: benRec } = await client(srv.url, 'Ben');
    await ann.joinRoom('rs');
    await ben.joinRoom('rs');
    for (const text of ['b0', 'b1']) await ben.sendMessage('rs', text);
    await rec.wait('message', (m) => m.content === 'b1');

    proxy.drop({ stayDown: true });
    // The barrier: Ben sees Ann offline once her session is gone (the resume window passed).
    await benRec.wait('presence', (p) => p.user.id === 'ann' && p.status === 'offline');
    for (let i = 2; i < 7; i++) await ben.sendMessage('rs', `b${i}`);
    const queued = ann.sendMessage('rs', 'sent while offline'); // waits for the connection
    proxy.up();
    ann.retryNow();
    const s = await rec.wait('session', () => true, { count: 2 });
    assert.equal(s.resumed, false); // a fresh session
    await rec.wait('resync'); // the application is told to re-read what it shows
    const report = await rec.wait('resynced', (r) => r.roomId === 'rs');
    assert.equal(report.complete, true); // everything after the last message seen
    assert.ok(report.messages >= 5); // b2..b6 (and Ann's queued one, when it was stored first)
    const mine = await queued;
    assert.equal(mine.content, 'sent while offline'); // the queued message went out once connected
    await ben.sendMessage('rs', 'b7');
    await rec.wait('message', (m) => m.content === 'b7');
    assert.deepEqual(contents(rec, 'rs'), ['b0', 'b1', 'b2', 'b3', 'b4', 'b5', 'b6', 'sent while offline', 'b7']); // each once, in order
    await benRec.wait('message', (m) => m.content === 'b7');
    assert.equal(contents(benRec, 'rs').filter((t) => t === 'sent while offline').length, 1); // Ben got Ann's once
  });

  test('a server restart refuses the resume token (HTTP 401): the client drops it, starts afresh and re-syncs from the durable store', async () => {
    const data = join(mkdtempSync(join(tmpdir(), 'huddle-client-')), 'huddle.db');
    let srv = await startServer(['-data', data]);
    const addr = srv.addr;
    cleanup.push(() => srv.kill());
    const { c: ann, rec } = await client(`ws://${addr}/ws`, 'Ann');
    const { c: ben } = await client(`ws://${addr}/ws`, 'Ben');
    await ann.joinRoom('ops');
    await ben.joinRoom('ops');
    await ben.sendMessage('ops', 'before');
    await rec.wait('message', (m) => m.content === 'before');
    ann.suspend(); // Ann is away while the server restarts (her token is of the old process)
    await srv.kill();
    srv = await startServer(['-data', data], { addr });
    await ben.next('session', (s) => s.resumed === false, 10_000).catch(() => {}); // Ben is back (or was already)
    if (ben.state !== 'open') await ben.next('state', (s) => s.state === 'open', 10_000);
    await ben.sendMessage('ops', 'after the restart');
    ann.wake();
    const s = await rec.wait('session', () => true, { count: 2 });
    assert.equal(s.resumed, false); // the old session died with the process
    const report = await rec.wait('resynced', (r) => r.roomId === 'ops');
    assert.deepEqual([report.messages, report.complete], [1, true]); // the one message she missed
    assert.deepEqual(contents(rec, 'ops'), ['before', 'after the restart']); // each once
    assert.equal(ann.state, 'open');
  });
});
