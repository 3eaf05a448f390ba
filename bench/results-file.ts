/**
 * What `npm run bench` writes: bench/results/latest.json (the machine block and every row) and,
 * on a full run, bench/RESULTS.md (the same rows as a table for humans, with the hand-written
 * `## Notes` section kept as it was). Kept apart from bench/run.ts so a test can check the format
 * without running a benchmark.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type BenchResult, ROW_HEAD, quick, rowCells } from './harness.js';

async function redisVersion(): Promise<string> {
  try {
    const { stdout } = await promisify(execFile)('redis-server', ['--version']);
    return /v=(\S+)/.exec(stdout)?.[1] ?? stdout.trim();
  } catch {
    return 'unknown';
  }
}

const REPO = fileURLToPath(new URL('..', import.meta.url));

/** The commit measured and whether the tree was clean (`git status --porcelain` empty). */
async function source(): Promise<{ commit: string; clean: boolean }> {
  const git = (args: string[]) =>
    promisify(execFile)('git', args, { cwd: REPO }).then((r) => r.stdout);
  const commit = (await git(['rev-parse', 'HEAD'])).trim();
  const clean = (await git(['status', '--porcelain'])).trim() === '';
  return { commit, clean };
}

/** The machine block of latest.json: the code measured (commit, clean tree) and what it ran on. */
export async function machine(): Promise<Record<string, unknown>> {
  const cpu = cpus();
  return {
    ...(await source()),
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

/** The text of bench/results/latest.json. */
export function latestJson(m: Record<string, unknown>, results: BenchResult[]): string {
  return JSON.stringify({ machine: m, results }, null, 2) + '\n';
}

/**
 * The row run.ts adds for a benchmark whose process failed or reported nothing; `timedOutMin`
 * when run.ts stopped it for running longer than that many minutes.
 */
export function failedRow(name: string, code: number | null, timedOutMin?: number): BenchResult {
  return {
    name: `${name}: completed`,
    unit: 'exit code',
    ours: code ?? -1,
    baseline: 0,
    ratio: 0,
    target: 1,
    pass: false,
    note:
      timedOutMin === undefined
        ? 'the benchmark process failed or reported nothing'
        : `the benchmark did not finish within ${timedOutMin} min and was stopped`,
  };
}

/** RESULTS.md's generated part: date, command, machine and the table of every row. */
export function markdown(
  m: Record<string, unknown>,
  results: BenchResult[],
  command: string,
): string {
  const rows = results.map((r) => [...rowCells(r, '**no**'), r.note ?? '']);
  const head = [...ROW_HEAD, 'note'];
  const mdRow = (cells: string[]) => `| ${cells.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`;
  return [
    '# Benchmark results',
    '',
    `Date: ${String(m.date)}. Command: \`${command}\`. Commit: ${String(m.commit)} (${m.clean ? 'clean tree' : 'uncommitted changes in the tree'}).`,
    '',
    `Machine: ${String(m.cores)} cores (${String(m.cpu)}), ${String(m.memoryGiB)} GiB, Linux ${String(m.kernel)}, Node ${String(m.node)}, redis-server ${String(m.redis)}; load average at start ${JSON.stringify(m.loadAverageAtStart)}. The machine is shared, so figures move from run to run; each benchmark runs its baseline in the same run.`,
    '',
    'A ratio is oriented so that higher is better (ours/baseline when more is better, baseline/ours when less is better) and passes at the target. Where a target is absolute (p99 <= 50 ms), the baseline column holds that limit; counts that must be zero score 1 or 0. A row without a target is a `report` (`"pass": null` in latest.json): a figure, not a verdict.',
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
export async function handWrittenNotes(path: string): Promise<string> {
  const old = await readFile(path, 'utf8').catch(() => '');
  const at = old.indexOf(NOTES_HEADING);
  return at === -1 ? '' : old.slice(at);
}
