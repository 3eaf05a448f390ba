import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';

/**
 * src/cli/young-generation.ts, the agent bundle's first module: V8's young generation stays at
 * its starting size while objects pile up, and grows again once released. Measured in a fresh
 * process (a test runner's heap has grown long before).
 */
const MODULE = new URL('../../src/cli/young-generation.ts', import.meta.url).href;

interface Sizes {
  /** Before the objects pile up. */
  start: number;
  /** After ~40 MiB of small objects are kept. */
  held: number;
  /** After `after` ran and as many again are kept. */
  released: number;
}

/** The young generation's sizes (MiB) in a new process, running `before` first. */
function youngGenerationMiB(before: string, after: string): Sizes {
  const script = `
    import v8 from 'node:v8';
    ${before}
    const keep = [];
    const pile = () => { for (let i = 0; i < 400_000; i++) keep.push({ i, s: 'x' + i }); };
    const newSpace = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size / 2 ** 20;
    const start = newSpace();
    pile();
    const held = newSpace();
    ${after}
    pile();
    console.log(JSON.stringify({ start, held, released: newSpace() }));
  `;
  const out = execFileSync(
    process.execPath,
    ['--import', 'tsx', '--input-type=module', '-e', script],
    { encoding: 'utf8' },
  );
  return JSON.parse(out) as Sizes;
}

void describe('young generation held small while the agent loads', () => {
  void it('stays at its starting size until released, then grows', () => {
    const r = youngGenerationMiB(
      `const { releaseYoungGeneration } = await import(${JSON.stringify(MODULE)});`,
      'releaseYoungGeneration();',
    );
    assert.equal(r.held, r.start, `held ${r.held} MiB, from ${r.start} MiB`);
    assert.ok(r.released > r.held, `released: ${r.released} MiB, held ${r.held} MiB`);
  });

  void it('grows by itself without it (what the module prevents)', () => {
    const r = youngGenerationMiB('', '');
    assert.ok(r.held > r.start, `${r.held} MiB, from ${r.start} MiB`);
  });
});
