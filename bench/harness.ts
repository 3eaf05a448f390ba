/**
 * What every benchmark shares: its options (`--quick`), how a result is scored against its
 * baseline, percentiles, a plain table, and where results go. `npm run bench` (bench/run.ts)
 * runs each benchmark in its own process with BENCH_OUT set; a benchmark appends its results
 * there as JSON lines, and prints them for a human either way.
 */
import { appendFile } from 'node:fs/promises';

/**
 * One line of bench/results/latest.json. A ratio is oriented so that higher is better. A row
 * without a target is a report: its baseline, ratio, target and pass are null (`report` in the
 * tables), never a pass.
 */
export interface BenchResult {
  name: string;
  unit: string;
  ours: number;
  baseline: number | null;
  /** ours/baseline when more is better, baseline/ours when less is better (JSON: null if infinite). */
  ratio: number | null;
  /** The least ratio that passes; null when the row has no target. */
  target: number | null;
  /** null exactly when there is no target. */
  pass: boolean | null;
  /** What the baseline is and how the target reads, for RESULTS.md. */
  note?: string;
}

/** Whether the run is the quick one (`--quick`: the whole suite in under 3 minutes). */
export const quick = process.argv.includes('--quick');

/**
 * Scores `ours` against `baseline`. `better` says which way is better for the measured unit;
 * the ratio is turned so that higher is always better, and passes when it is at least `target`.
 * An absolute target (p99 <= 50 ms) is a baseline of 50 with target 1.
 */
export function score(
  name: string,
  unit: string,
  ours: number,
  baseline: number,
  better: 'higher' | 'lower',
  target: number,
  note?: string,
): BenchResult {
  let ratio: number;
  if (better === 'higher') ratio = baseline === 0 ? (ours > 0 ? Infinity : 1) : ours / baseline;
  else ratio = ours === 0 ? (baseline >= 0 ? Infinity : 0) : baseline / ours;
  const rounded = Number.isFinite(ratio) ? Math.round(ratio * 1000) / 1000 : ratio;
  return {
    name,
    unit,
    ours,
    baseline,
    ratio: rounded,
    target,
    pass: ratio >= target,
    ...(note ? { note } : {}),
  };
}

/** One interleaved round pair: our figure and the baseline's, measured back to back. */
export interface RoundPair {
  ours: number;
  baseline: number;
}

/**
 * Scores interleaved rounds (baseline, ours, baseline, ours, ...) by their median ratio: on a
 * shared box the load moves between rounds, and a ratio of neighbours cancels most of it. The
 * result carries the figures of the pair whose ratio is the median (an odd number of pairs makes
 * that one pair; with an even number, the lower of the two middle ones).
 */
export function scorePairs(
  name: string,
  unit: string,
  pairs: readonly RoundPair[],
  better: 'higher' | 'lower',
  target: number,
  note?: string,
): BenchResult {
  const scored = pairs
    .map((p) => score(name, unit, p.ours, p.baseline, better, target, note))
    .sort((a, b) => (a.ratio ?? 0) - (b.ratio ?? 0));
  const median = scored[Math.floor((scored.length - 1) / 2)];
  if (!median) throw new Error(`${name}: no rounds to score`);
  return median;
}

/** A count that must be zero (duplicates, missed fires): ratio 1 when it is, else 0. */
export function mustBeZero(name: string, count: number, note?: string): BenchResult {
  return {
    name,
    unit: 'count',
    ours: count,
    baseline: 0,
    ratio: count === 0 ? 1 : 0,
    target: 1,
    pass: count === 0,
    ...(note ? { note } : {}),
  };
}

/** A figure reported without a target (footprint): a report, not a pass. */
export function reportOnly(name: string, unit: string, ours: number, note?: string): BenchResult {
  return {
    name,
    unit,
    ours,
    baseline: null,
    ratio: null,
    target: null,
    pass: null,
    ...(note ? { note } : {}),
  };
}

/** The value after `name` on the command line (`--runs 1000`), if it is there. */
export function option(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/** `text` as a whole number of at least `min`, or an error naming the option and what it got. */
export function wholeNumber(name: string, text: string, min: number): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isSafeInteger(n) || n < min) {
    throw new Error(`${name}: expected a whole number (${min} or more), got ${text}`);
  }
  return n;
}

/** The p-quantile (0..1) of ascending values, nearest rank; NaN when empty. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] ?? NaN;
}

export function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
      .join('  ');
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** A figure for tables: whole above 100, else two decimals (three for ratios below 1); - for none. */
export function formatNumber(v: number | null): string {
  if (v === null) return '-';
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v) || Math.abs(v) >= 100) return v.toFixed(0);
  return Math.abs(v) < 1 ? v.toFixed(3) : v.toFixed(2);
}

/** A row's verdict for the tables: `yes`, `failed` (how a table marks a failure) or `report`. */
export function passLabel(r: BenchResult, failed: string): string {
  if (r.pass === null) return 'report';
  return r.pass ? 'yes' : failed;
}

/** The columns every results table shows, in order. */
export const ROW_HEAD = ['result', 'unit', 'ours', 'baseline', 'ratio', 'target', 'pass'];

/** One row's cells under ROW_HEAD; `failed` is how that table marks a failure. */
export function rowCells(r: BenchResult, failed: string): string[] {
  return [
    r.name,
    r.unit,
    formatNumber(r.ours),
    formatNumber(r.baseline),
    formatNumber(r.ratio),
    formatNumber(r.target),
    passLabel(r, failed),
  ];
}

/** Prints the results and, under `npm run bench`, appends them to BENCH_OUT. */
export async function publish(results: BenchResult[]): Promise<void> {
  console.log(
    table(
      ROW_HEAD,
      results.map((r) => rowCells(r, 'NO')),
    ),
  );
  const out = process.env.BENCH_OUT;
  if (out) await appendFile(out, results.map((r) => JSON.stringify(r)).join('\n') + '\n');
}
