// The browser client in web/static/client is the build of src/ (npm run sync-web), byte for
// byte: the Go module embeds it, so a change to src/ must come with its copy.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { builtFiles, distDir, jsFiles, webDir } from './webcopy.js';

test('web/static/client is a fresh build of src/ (else run: npm run sync-web)', () => {
  assert.ok(existsSync(webDir), `${webDir} is missing: run npm run sync-web`);
  const built = builtFiles();
  assert.ok(built.includes('index.js')); // the build ran
  assert.deepEqual(jsFiles(webDir), built); // the same files, no stale ones
  for (const f of built) {
    const same = readFileSync(join(distDir, f)).equals(readFileSync(join(webDir, f)));
    assert.ok(same, `web/static/client/${f} differs from the build: run npm run sync-web`); // byte for byte
  }
});
