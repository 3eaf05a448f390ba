/**
 * Runs the benchmarks one after another, each in its own process (each starts its own private
 * redis-server and runs its baseline in the same run), and writes
 * bench/results/latest.json: {"machine": {...}, "results": [{name, unit, ours, baseline, ratio,
 * target, pass}]}. A full run also rewrites bench/RESULTS.md, the table for humans, and keeps
 * its hand-written "## Notes" section (history, analysis) as it was.
 *
 *   npm run bench                  every benchmark, full length
 *   npm run bench -- --quick       every benchmark, short (under 3 minutes in all)
 *   npm run bench -- --only fanout,read-path
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { execFile } from 'node:child_process';
import { type BenchResult, formatNumber, quick, table } from './harness.js';

/** The benchmarks in the order they run; each is bench/<name>.ts. */
export const BENCHMARKS = [
  'throughput',
  'fanout',
  'schedule',
  'read-path',
  'output',
  'footprint',
] as const;

const BENCH_DIR = fileURLToPath(new URL('.', import.meta.url));

async function redisVersion(): Promise<string> {
  try {
    const { stdout } = await promisify(execFile)('redis-server', ['--version']);
    return /v=(\S+)/.exec(stdout)?.[1] ?? stdout.trim();
  } catch {
    return 'unknown';
  }
}

async function machine(): Promise<Record<string, unknown>> {
  const cpu = cpus();
  return {
    cores: cpu.length,
    cpu: cpu[0]?.model ?? 'unknown',
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: release(),
    node: process.version,
    redis: await redisVersion(),
    loadAverageAtStart: loadavg().map((l) => Math.round(l * 100) / 100),
    date: new Date().toISOString(),
    quick,
  };
}

function runOne(name: string, out: string, timeoutMs: number): Promise<number | null> {
  return new Promise((resolve) => {
    const args = ['--import', 'tsx', join(BENCH_DIR, `${name}.ts`), ...(quick ? ['--quick'] : [])];
    const child = spawn(process.execPath, args, {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, BENCH_OUT: out },
    });
    const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

function markdown(m: Record<string, unknown>, results: BenchResult[], command: string): string {
  const rows = results.map((r) => [
    r.name,
    r.unit,
    formatNumber(r.ours),
    formatNumber(r.baseline),
    formatNumber(r.ratio),
    formatNumber(r.target),
    r.pass ? 'yes' : '**no**',
    r.note ?? '',
  ]);
  const head = ['result', 'unit', 'ours', 'baseline', 'ratio', 'target', 'pass', 'note'];
  const mdRow = (cells: string[]) => `| ${cells.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`;
  return [
    '# Benchmark results',
    '',
    `Date: ${String(m.date)}. Command: \`${command}\`.`,
    '',
    `Machine: ${String(m.cores)} cores (${String(m.cpu)}), ${String(m.memoryGiB)} GiB, Linux ${String(m.kernel)}, Node ${String(m.node)}, redis-server ${String(m.redis)}; load average at start ${JSON.stringify(m.loadAverageAtStart)}. The machine is shared, so figures move from run to run; each benchmark runs its baseline in the same run.`,
    '',
    'A ratio is oriented so that higher is better (ours/baseline when more is better, baseline/ours when less is better) and passes at the target. Where a target is absolute (p99 <= 50 ms), the baseline column holds that limit; counts that must be zero score 1 or 0.',
    '',
    mdRow(head),
    mdRow(head.map(() => '---')),
    ...rows.map(mdRow),
    '',
  ].join('\n');
}

/** RESULTS.md's hand-written part: from this heading to the end, kept by every rewrite. */
const NOTES_HEADING = '\n## Notes\n';

/** The notes section of the RESULTS.md at `path` (with its heading), or '' when it has none. */
async function handWrittenNotes(path: string): Promise<string> {
  const old = await readFile(path, 'utf8').catch(() => '');
  const at = old.indexOf(NOTES_HEADING);
  return at === -1 ? '' : old.slice(at);
}

async function main(): Promise<void> {
  const only = process.argv.find((a, i) => process.argv[i - 1] === '--only');
  const names = only ? only.split(',') : [...BENCHMARKS];
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
      const code = await runOne(name, out, (quick ? 5 : 30) * 60_000);
      const lines = (await readFile(out, 'utf8')).split('\n').filter((l) => l.trim() !== '');
      results.push(...lines.map((l) => JSON.parse(l) as BenchResult));
      if (code !== 0 || lines.length === 0) {
        results.push({
          name: `${name}: completed`,
          unit: 'exit code',
          ours: code ?? -1,
          baseline: 0,
          ratio: 0,
          target: 1,
          pass: false,
          note: 'the benchmark process failed or reported nothing',
        });
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const resultsDir = join(BENCH_DIR, 'results');
  await mkdir(resultsDir, { recursive: true });
  await writeFile(
    join(resultsDir, 'latest.json'),
    JSON.stringify({ machine: m, results }, null, 2) + '\n',
  );
  const command = `npm run bench${quick ? ' -- --quick' : ''}${only ? ` -- --only ${only}` : ''}`;
  if (!quick && !only) {
    const path = join(BENCH_DIR, 'RESULTS.md');
    await writeFile(path, markdown(m, results, command) + (await handWrittenNotes(path)));
  }
  console.log(
    '\n' +
      table(
        ['result', 'ratio', 'target', 'pass'],
        results.map((r) => [r.name, String(r.ratio), String(r.target), r.pass ? 'yes' : 'NO']),
      ),
  );
  console.log(`\nwrote ${join('bench', 'results', 'latest.json')}`);
}

await main();
