// Copies the built client (dist/**/*.js) into ../web/static/client/, the browser client Go
// embeds, so that `go run ./examples/server` needs no npm. `npm test` fails when the copy
// differs from a fresh build (test/webcopy.test.js). Run: npm run sync-web
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { builtFiles, webDir } from '../test/webcopy.js';

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, '..', 'dist');
rmSync(webDir, { recursive: true, force: true });
for (const f of builtFiles()) {
  mkdirSync(dirname(join(webDir, f)), { recursive: true });
  copyFileSync(join(dist, f), join(webDir, f));
}
console.log(`copied ${builtFiles().length} files to ${webDir}`);
