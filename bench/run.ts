/**
 * Runs the benchmarks one after another, each in its own process (each starts its own private
 * redis-server and runs its baseline in the same run), and writes
 * bench/results/latest.json: {"machine": {...}, "results": [{name, unit, ours, baseline, ratio,
 * target, pass}]}. A full run also rewrites bench/RESULTS.md, the table for humans, and keeps
 * its hand-written "## Notes" section (history, analysis) as it was.
 *
 *   npm run bench                  every benchmark, full length
 *   npm run bench -- --quick       every benchmark but idle-cost, short (under 3 minutes in all)
 *   npm run bench -- --only fanout,read-path
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BenchResult, formatNumber, passLabel, quick, table } from './harness.js';
import { runBounded } from './processes.js';
import { failedRow, handWrittenNotes, latestJson, machine, markdown } from './results-file.js';

/** The benchmarks in the order they run; each is bench/<name>.ts. */
export const BENCHMARKS = [
  'throughput',
  'fanout',
  'schedule',
  'schedule-1k',
  'read-path',
  'summarize',
  'output',
  'footprint',
  'idle-cost',
  'cli-wait',
  'fleet-10k',
] as const;

/**
 * Benchmarks left out of `--quick`: their figure needs a window longer than the quick run has
 * (idle-cost: several of each periodic call, the longest every 300 s; fleet-10k: 10,000 agents
 * starting and a 300 s idle watch).
 */
const FULL_ONLY: readonly string[] = ['idle-cost', 'fleet-10k'];

const BENCH_DIR = fileURLToPath(new URL('.', import.meta.url));

/** How long a benchmark stopped for running too long has to clean up before it is killed. */
const KILL_GRACE_MS = 30_000;

/** Runs bench/<name>.ts (see runBounded: SIGTERM past `timeoutMs`, SIGKILL after a grace). */
function runOne(name: string, out: string, timeoutMs: number) {
  const args = ['--import', 'tsx', join(BENCH_DIR, `${name}.ts`), ...(quick ? ['--quick'] : [])];
  return runBounded(name, args, { BENCH_OUT: out }, timeoutMs, KILL_GRACE_MS);
}

async function main(): Promise<void> {
  const only = process.argv.find((a, i) => process.argv[i - 1] === '--only');
  const names = only
    ? only.split(',')
    : BENCHMARKS.filter((n) => !(quick && FULL_ONLY.includes(n)));
  for (const n of names) {
    if (!(BENCHMARKS as readonly string[]).includes(n)) {
      throw new Error(`unknown benchmark ${JSON.stringify(n)}; known: ${BENCHMARKS.join(', ')}`);
    }
  }
  const m = await machine();
  const dir = await mkdtemp(join(tmpdir(), 'fleetcmd-bench-'));
  const results: BenchResult[] = [];
  try {
    for (const name of names) {
      const out = join(dir, `${name}.jsonl`);
      await writeFile(out, '');
      console.log(`\n== ${name}${quick ? ' (quick)' : ''}`);
      const timeoutMin = quick ? 5 : 30;
      const started = performance.now();
      const { code, timedOut } = await runOne(name, out, timeoutMin * 60_000);
      const seconds = Math.round((performance.now() - started) / 1000);
      console.log(`== ${name}: exit ${String(code)} after ${seconds} s`);
      const lines = (await readFile(out, 'utf8')).split('\n').filter((l) => l.trim() !== '');
      results.push(...lines.map((l) => JSON.parse(l) as BenchResult));
      if (code !== 0 || lines.length === 0) {
        results.push(failedRow(name, code, timedOut ? timeoutMin : undefined));
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const resultsDir = join(BENCH_DIR, 'results');
  await mkdir(resultsDir, { recursive: true });
  await writeFile(join(resultsDir, 'latest.json'), latestJson(m, results));
  const command = `npm run bench${quick ? ' -- --quick' : ''}${only ? ` -- --only ${only}` : ''}`;
  if (!quick && !only) {
    const path = join(BENCH_DIR, 'RESULTS.md');
    await writeFile(path, markdown(m, results, command) + (await handWrittenNotes(path)));
  }
  console.log(
    '\n' +
      table(
        ['result', 'ratio', 'target', 'pass'],
        results.map((r) => [
          r.name,
          formatNumber(r.ratio),
          formatNumber(r.target),
          passLabel(r, 'NO'),
        ]),
      ),
  );
  console.log(`\nwrote ${join('bench', 'results', 'latest.json')}`);
}

await main();
