/**
 * The web console's production build (dist/console, made by `npm run build`, which `npm test`
 * runs first) stays light: every file it serves, gzipped, adds up to at most 250 KiB.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { describe, it } from 'node:test';

const DIR = fileURLToPath(new URL('../../dist/console/', import.meta.url));
const LIMIT_BYTES = 250 * 1024;

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? files(p) : [p];
  });
}

void describe('web console bundle', () => {
  void it('is built, with no source map, and weighs at most 250 KiB gzipped in total', () => {
    const all = files(DIR);
    assert.ok(
      all.some((f) => f.endsWith('index.html')),
      'dist/console/index.html: run npm run build',
    );
    assert.ok(
      all.some((f) => f.endsWith('.js')),
      'no script in dist/console',
    );
    assert.deepEqual(
      all.filter((f) => f.endsWith('.map')),
      [],
    );
    const gz = all.reduce((sum, f) => sum + gzipSync(readFileSync(f), { level: 9 }).length, 0);
    assert.ok(gz <= LIMIT_BYTES, `the console weighs ${gz} bytes gzipped, over ${LIMIT_BYTES}`);
  });

  void it('has no inline script for the CSP to refuse', () => {
    const html = readFileSync(join(DIR, 'index.html'), 'utf8');
    for (const tag of html.match(/<script\b[^>]*>[\s\S]*?<\/script>/g) ?? []) {
      assert.match(tag, /\bsrc="\/ui\/assets\/[^"]+\.js"/, `inline script: ${tag}`);
      assert.match(tag, /><\/script>$/, `script with a body: ${tag}`);
    }
  });
});
