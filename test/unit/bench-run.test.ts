/**
 * How `npm run bench` bounds a benchmark (bench/processes.ts runBounded): one that finishes
 * answers its exit code; one that does not is stopped with SIGTERM past its time and killed if it
 * ignores that, so a stuck benchmark fails the run with a row instead of hanging it. No timing
 * is asserted: the bounds only decide which way each case ends (the 5 s bound leaves a loaded
 * box's node time to start and install its SIGTERM handler first).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it, mock } from 'node:test';
import { runBounded } from '../../bench/processes.js';
import { failedRow } from '../../bench/results-file.js';

/**
 * Arguments of `node -e <code>`; the child exits 7 by itself after two minutes, so a bound that
 * does not stop it fails the case instead of hanging the run.
 */
const script = (code: string) => [
  '-e',
  `setTimeout(() => process.exit(7), 120_000).unref(); ${code}`,
];

/** Long enough for `node -e` to start on a loaded box before it is stopped. */
const BOUND_MS = 5_000;

void describe('bench run bound', { concurrency: true }, () => {
  const said = mock.method(console, 'error', () => undefined);
  before(() => said.mock.resetCalls());
  after(() => said.mock.restore());

  void it('a benchmark that ends in time answers its exit code, not timed out', async () => {
    const r = await runBounded('ends', script('process.exitCode = 3'), {}, 120_000, 1_000);
    assert.deepEqual(r, { code: 3, timedOut: false });
  });

  void it('one still running past its bound is stopped with SIGTERM, and says so', async () => {
    // It cleans up on SIGTERM as a benchmark's Cleanup does, and exits 130.
    const code = "process.on('SIGTERM', () => process.exit(130)); setInterval(() => {}, 1000)";
    const r = await runBounded('stuck', script(code), {}, BOUND_MS, 60_000);
    assert.deepEqual(r, { code: 130, timedOut: true });
    const lines = said.mock.calls.map((c) => String(c.arguments[0]));
    assert.ok(
      lines.some((l) => l.includes('stuck did not finish within 5 s')),
      lines.join('\n'),
    );
  });

  void it('one that ignores SIGTERM is killed after the grace', async () => {
    const code = "process.on('SIGTERM', () => {}); setInterval(() => {}, 1000)";
    const r = await runBounded('deaf', script(code), {}, BOUND_MS, 500);
    assert.deepEqual(r, { code: null, timedOut: true });
  });

  void it('a timed-out benchmark gets a failed row that says it was stopped', () => {
    const row = failedRow('summarize', null, 30);
    assert.equal(row.pass, false);
    assert.equal(row.ours, -1);
    assert.match(row.note ?? '', /did not finish within 30 min/);
    assert.match(failedRow('summarize', 1).note ?? '', /failed or reported nothing/);
  });
});
