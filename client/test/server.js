// Test helpers: the reference server as a child process, a TCP proxy that can cut the
// network, and JWTs.
import { spawn, spawnSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

let built = process.env.HUDDLE_SERVER_BIN;

/** The server binary: built by test/run.js, or here when a test file runs alone. */
function serverBinary() {
  if (built) return built;
  const bin = join(here, '..', 'build', `huddle-server-${process.pid}`);
  mkdirSync(dirname(bin), { recursive: true });
  const r = spawnSync('go', ['build', '-o', bin, './examples/server'], { cwd: join(here, '..', '..'), stdio: 'inherit' });
  if (r.status !== 0) throw new Error('go build ./examples/server failed');
  built = bin;
  return bin;
}

/**
 * Start the reference server on a port the OS picks (or `addr`), with dev auth and memory
 * stores unless args say otherwise; resolves once it printed its address.
 */
export async function startServer(args = [], { addr = '127.0.0.1:0' } = {}) {
  const all = ['-dev-auth', '-addr', addr, '-log-level', 'warn', ...args];
  if (!all.includes('-data')) all.push('-data', 'memory');
  const proc = spawn(serverBinary(), all, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (b) => { stderr += b; });
  const exited = new Promise((resolve) => proc.once('exit', resolve));
  const address = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`server did not start in 20 s: ${stderr}`)), 20_000);
    proc.stdout.on('data', (b) => {
      out += b;
      const m = /listening on http:\/\/(\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}: ${stderr}`));
    });
  });
  return {
    addr: address,
    url: `ws://${address}/ws`,
    http: `http://${address}`,
    /** SIGKILL: no graceful shutdown. */
    async kill() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await exited;
    },
  };
}

/**
 * A TCP proxy in front of target ("host:port"): drop() cuts every connection without a close
 * frame (as a network loss does), and while down it refuses new ones.
 */
export async function startProxy(target) {
  const [host, port] = [target.slice(0, target.lastIndexOf(':')), Number(target.slice(target.lastIndexOf(':') + 1))];
  const sockets = new Set();
  let down = false;
  const server = createServer((client) => {
    if (down) return client.destroy();
    const upstream = connect(port, host);
    sockets.add(client);
    sockets.add(upstream);
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = `127.0.0.1:${server.address().port}`;
  return {
    addr,
    url: `ws://${addr}/ws`,
    /** Cut every connection; with stayDown, refuse new ones until up(). */
    drop({ stayDown = false } = {}) {
      down = stayDown;
      for (const s of sockets) s.destroy();
      sockets.clear();
    },
    up() {
      down = false;
    },
    close() {
      this.drop({ stayDown: true });
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

/** An HS256 JWT with sub, username and exp (seconds from now). */
export function jwt(secret, { sub, username, exp = 3600 }) {
  const b64 = (v) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const body = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub, username, exp: Math.floor(Date.now() / 1000) + exp })}`;
  return `${body}.${createHmac('sha256', secret).update(body).digest('base64url')}`;
}

/**
 * Records a client's events of the given names, in order, and waits for them with a deadline:
 * no sleeps, every wait is on an event.
 */
export class Recorder {
  constructor(emitter, names) {
    this.events = [];
    this.waiters = [];
    this.offs = names.map((name) =>
      emitter.on(name, (data) => {
        this.events.push({ name, data });
        this.waiters = this.waiters.filter((w) => !w.check());
      }),
    );
  }

  /** The data of every recorded event of this name (matching pred). */
  all(name, pred = () => true) {
    return this.events.filter((e) => e.name === name && pred(e.data)).map((e) => e.data);
  }

  /** Resolves once `count` events of this name match pred; rejects after ms. */
  wait(name, pred = () => true, { count = 1, ms = 10_000 } = {}) {
    return new Promise((resolve, reject) => {
      const w = {
        check: () => {
          const got = this.all(name, pred);
          if (got.length < count) return false;
          clearTimeout(w.timer);
          resolve(got[count - 1]);
          return true;
        },
      };
      if (w.check()) return;
      w.timer = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        reject(new Error(`no ${count}× ${name} within ${ms} ms; got ${JSON.stringify(this.all(name)).slice(0, 500)}`));
      }, ms);
      this.waiters.push(w);
    });
  }

  stop() {
    this.offs.forEach((off) => off());
  }
}
