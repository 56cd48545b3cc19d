// npm test: builds the reference server once (go build ./examples/server from the repository
// root, a Go workspace), then runs every test file with Node's test runner against it.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const bin = join(here, '..', 'build', 'huddle-server');
mkdirSync(dirname(bin), { recursive: true });
const build = spawnSync('go', ['build', '-o', bin, './examples/server'], { cwd: root, stdio: 'inherit' });
if (build.error || build.status !== 0) {
  console.error('npm test: could not build the reference server (go build ./examples/server):', build.error?.message ?? `exit ${build.status}`);
  process.exit(1);
}
const files = readdirSync(here).filter((f) => f.endsWith('.test.js')).sort().map((f) => join(here, f));
// Node 20 and 21 have WebSocket only behind a flag (no `ws` package: no dependencies).
const flags = Number(process.versions.node.split('.')[0]) < 22 ? ['--experimental-websocket'] : [];
const run = spawnSync(process.execPath, [...flags, '--test', ...files], {
  stdio: 'inherit',
  env: { ...process.env, HUDDLE_SERVER_BIN: bin },
});
process.exit(run.status ?? 1);
