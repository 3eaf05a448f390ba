import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { CLI_DOCS_PATH, renderCliDocs } from '../../scripts/gen-cli-docs.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DOCS = join(ROOT, 'docs');

/** README.md and every docs/*.md: the pages a reader follows links between. */
const PAGES = [
  join(ROOT, 'README.md'),
  ...readdirSync(DOCS)
    .filter((name) => name.endsWith('.md'))
    .map((name) => join(DOCS, name)),
];

/** The text outside fenced code blocks, where markdown links and headings mean something. */
function prose(markdown: string): string[] {
  let fenced = false;
  return markdown.split('\n').filter((line) => {
    if (line.startsWith('```')) {
      fenced = !fenced;
      return false;
    }
    return !fenced;
  });
}

/** GitHub's heading anchor: lower case, punctuation but `-` and `_` dropped, spaces to `-`. */
function slug(heading: string): string {
  const text = heading
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1') // a link in a heading anchors by its text
    .trim()
    .toLowerCase();
  return text.replace(/[^\p{L}\p{N}\p{M} _-]/gu, '').replace(/ /g, '-');
}

/** The anchors a page offers, with GitHub's -1, -2 ... for repeated headings. */
function anchors(file: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const line of prose(readFileSync(file, 'utf8'))) {
    const m = /^#{1,6} (.*)$/.exec(line);
    if (!m?.[1]) continue;
    const base = slug(m[1]);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

/** Every link target in a page: inline `[text](target)` and reference `[name]: target`. */
function links(file: string): string[] {
  const out: string[] = [];
  for (const line of prose(readFileSync(file, 'utf8'))) {
    // Code spans show link syntax as text; their content is not a link.
    const text = line.replace(/`[^`]*`/g, '');
    for (const m of text.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) out.push(m[1] as string);
    const ref = /^\s*\[[^\]]+\]:\s+(\S+)/.exec(text);
    if (ref?.[1]) out.push(ref[1]);
  }
  return out;
}

/** Why a relative link from `file` does not resolve, or undefined when it does. */
function brokenLink(file: string, target: string): string | undefined {
  const [path = '', anchor] = target.split('#', 2);
  const dest = path === '' ? file : resolve(dirname(file), decodeURIComponent(path));
  if (!existsSync(dest)) return 'no such file';
  if (anchor === undefined) return undefined;
  if (!dest.endsWith('.md') || statSync(dest).isDirectory()) return undefined;
  return anchors(dest).has(anchor) ? undefined : `no heading with anchor #${anchor}`;
}

void describe('docs/cli.md', () => {
  void it('is what scripts/gen-cli-docs.ts renders from the CLI help texts (npm run docs:cli)', () => {
    assert.equal(
      readFileSync(CLI_DOCS_PATH, 'utf8'),
      renderCliDocs(),
      'docs/cli.md is stale: run npm run docs:cli and commit the result',
    );
  });
});

void describe('links in README.md and docs/', () => {
  void it('slugs headings the way GitHub does', () => {
    assert.equal(slug('Redis keys (prefix `fc`)'), 'redis-keys-prefix-fc');
    assert.equal(
      slug("Using the vendor's SDKs with fleetcmd"),
      'using-the-vendors-sdks-with-fleetcmd',
    );
    assert.equal(slug('Faults: what survives what'), 'faults-what-survives-what');
    assert.equal(slug('`fleetcmd command create --help`'), 'fleetcmd-command-create---help');
  });

  void it('every relative link names a file that exists, and a heading that exists', () => {
    const broken: string[] = [];
    let checked = 0;
    for (const file of PAGES) {
      for (const target of links(file)) {
        if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto: ...
        checked += 1;
        const why = brokenLink(file, target);
        if (why) broken.push(`${relative(ROOT, file)}: (${target}) ${why}`);
      }
    }
    assert.ok(checked > 0, 'no relative links found: is the link pattern right?');
    assert.deepEqual(broken, []);
  });
});
