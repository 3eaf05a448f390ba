/**
 * `fleetcmd agent` holds V8's young generation at its starting size while its modules load, then
 * lets it grow after one full collection (workers/agent/young-generation.ts). Each case runs in a fresh Node
 * process, whose young generation has not grown yet: it keeps many young objects alive through
 * several collections (what loading modules does) and reports the young generation's size.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';

const MODULE = new URL('../../workers/agent/young-generation.ts', import.meta.url).href;

/** Runs `steps` (a script body with `hold`, `grow`, `churn` and `youngMiB` in scope). */
function inFreshNode(steps: string, env: Record<string, string> = {}): unknown {
  const script = `
    import { getHeapSpaceStatistics } from 'node:v8';
    import { constants, PerformanceObserver } from 'node:perf_hooks';
    /** Resolves at the next full (mark-compact) collection. */
    const nextFullGc = () =>
      new Promise((resolve) => {
        const o = new PerformanceObserver((list) => {
          if (list.getEntries().some((e) => e.detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR)) {
            o.disconnect();
            resolve(true);
          }
        });
        o.observe({ entryTypes: ['gc'] });
      });
    import { holdYoungGenerationSmall as hold, youngGenerationMayGrow as grow } from ${JSON.stringify(MODULE)};
    const kept = [];
    // Objects that survive: each young collection finds most of what it holds still alive.
    const churn = () => { for (let i = 0; i < 400_000; i++) kept.push({ i, s: 'x' + i }); };
    const youngMiB = () =>
      getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size / 2 ** 20;
    const out = await (async () => { ${steps} })();
    console.log(JSON.stringify(out));
  `;
  const text = execFileSync(
    process.execPath,
    ['--import', 'tsx', '--input-type=module', '--eval', script],
    { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '', ...env } },
  );
  return JSON.parse(text.trim().split('\n').at(-1) ?? 'null');
}

void describe('young generation while the agent starts', () => {
  void it('stays at its starting size while held; let go, it is collected in full and grows again', () => {
    const r = inFreshNode(`
      const held = hold();
      const start = youngMiB();
      churn();
      const whileHeld = youngMiB();
      const collected = nextFullGc();
      grow();
      const fullGc = await collected;
      churn();
      return { held, start, whileHeld, fullGc, after: youngMiB() };
    `) as { held: boolean; start: number; whileHeld: number; fullGc: boolean; after: number };
    assert.equal(r.held, true);
    assert.equal(r.whileHeld, r.start, `held: ${JSON.stringify(r)}`);
    assert.equal(r.fullGc, true);
    assert.ok(r.after > r.start, `let go: ${JSON.stringify(r)}`);
  });

  void it('without it, the same work grows the young generation', () => {
    const r = inFreshNode(
      `const start = youngMiB(); churn(); return { start, after: youngMiB() };`,
    ) as {
      start: number;
      after: number;
    };
    assert.ok(r.after > r.start, JSON.stringify(r));
  });

  void it("leaves an operator's --max-semi-space-size alone", () => {
    const r = inFreshNode(
      `const held = hold(); const start = youngMiB(); churn(); return { held, start, after: youngMiB() };`,
      {
        NODE_OPTIONS: '--max-semi-space-size=8',
      },
    ) as { held: boolean; start: number; after: number };
    assert.equal(r.held, false);
    assert.ok(r.after > r.start, JSON.stringify(r));
  });
});
