/**
 * Benchmark 3, schedule accuracy: 50 every-second Period invocations for 60 s (`--quick`: 5 s)
 * on 4 real agents that spawn the command, on a private redis-server with hz 100; lag from each
 * fire's intended time to its command's start, beside the like-for-like baseline
 * `bullmq+spawn` (BullMQ's own job schedulers, each queue consumed by a child process that
 * spawns the same command) in the same run. Phases alternate baseline, ours over 3 repetitions (`--quick`: 1);
 * each row is the median of the phases (bench/fire-lag.ts runs the phases and explains the
 * accounting).
 *
 * Targets (issue 22): our p99 <= 100 ms (absolute; the baseline's p99 is in the note and its
 * own row); no duplicated and no missed fire over the three phases (a fire the server skipped
 * and that never ran is missed, as a slot BullMQ jumps is). A full run also measures 200
 * schedules, at this box's spawn ceiling, reported without a target (its old target, p99 within
 * the baseline's + 20 ms, is a report now: both sides are bound by spawning there).
 *
 *   node --import tsx bench/schedule.ts [--quick] [--schedules 50,200] [--stamp date|first]
 *
 * A start is stamped at the command's first instruction where the kernel's clock can be read
 * without a process (root: `--stamp first`, the default there), ours and the baseline's alike;
 * the same commands also stamp `$(date +%s%N)`, whose fork and exec were counted in every lag
 * before, and that measure is a report row of its own. Elsewhere (`--stamp date`) only the latter.
 */
import { parseArgs } from 'node:util';
import {
  type BenchResult,
  mustBeZero,
  percentile,
  publish,
  quick,
  reportOnly,
  score,
} from './harness.js';
import {
  canStampFirst,
  parseStamp,
  report,
  runFireLag,
  spawnCeiling,
  type FireLagOptions,
  type Result,
} from './fire-lag.js';

/** The scored count (the first entry of --schedules is the one scored): below the spawn ceiling. */
const SCHEDULES = 50;
/** At the spawn ceiling: reported only. */
const AT_CEILING = 200;
/** Our p99's absolute target at the scored count. */
const TARGET_P99_MS = 100;
/** The like-for-like baseline: BullMQ job schedulers consumed by child processes that spawn. */
const BASELINE = 'bullmq+spawn';
/** Phase pairs (baseline, ours), alternated, for the scored count. */
const REPETITIONS = 3;

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: { quick: { type: 'boolean' }, schedules: { type: 'string' }, stamp: { type: 'string' } },
});
const counts = (values.schedules ?? (quick ? `${SCHEDULES}` : `${SCHEDULES},${AT_CEILING}`))
  .split(',')
  .map((c) => Number(c));
if (counts.some((c) => !Number.isInteger(c) || c < 1)) throw new Error('--schedules: counts');

const sorted = (r: Result | undefined) => [...(r?.lags ?? [])].sort((a, b) => a - b);
const round = (v: number) => Math.round(v * 10) / 10;
const median = (xs: number[]) =>
  [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)] ?? NaN;

/** One repetition's figures for one variant. */
interface Phase {
  p50: number;
  p99: number;
  duplicates: number;
  missed: number;
  skipped: number;
  cpu: string;
  /** p99 of the same starts by their `$(date +%s%N)` stamp (Stamp `first`), else NaN. */
  dateP99: number;
}

function phaseOf(r: Result): Phase {
  const lags = sorted(r);
  const dateLags = [...(r.dateLags ?? [])].sort((a, b) => a - b);
  return {
    p50: round(percentile(lags, 0.5)),
    p99: round(percentile(lags, 0.99)),
    dateP99: dateLags.length > 0 ? round(percentile(dateLags, 0.99)) : NaN,
    duplicates: r.duplicates,
    missed: r.missed,
    skipped: r.skipped ?? 0,
    cpu: `${r.cpu.busyPct.toFixed(0)}% busy, ${r.cpu.otherPct.toFixed(0)}% other`,
  };
}

/**
 * Where a start is stamped: at the command's first instruction where this user can read the
 * kernel's clock without a process (root), which is when the command starts; else by
 * `$(date +%s%N)`, which adds date's fork and exec to every lag (bench/fire-lag.ts, Stamp).
 */
const stamp =
  values.stamp !== undefined
    ? parseStamp(values.stamp)
    : (await canStampFirst())
      ? 'first'
      : 'date';
const STAMPED =
  stamp === 'first'
    ? "start = the command's first instruction (its shell reads the kernel's clock; its $(date) stamp is a row of its own)"
    : "start = the command's $(date +%s%N) (its fork and exec of date included)";

const results: BenchResult[] = [];
for (const [i, schedules] of counts.entries()) {
  // The scored count alternates baseline and ours over REPETITIONS; another count runs once.
  // (--quick: one pair, to stay within the quick suite's 3 minutes.)
  const reps = i === 0 && !quick ? REPETITIONS : 1;
  const opts: FireLagOptions = {
    seconds: quick ? 5 : 60,
    schedules,
    hzList: [100],
    agents: 4,
    // Every agent's share of the schedules fits its concurrency: no fire waits for a slot.
    concurrency: Math.max(32, Math.ceil(schedules / 4) + 8),
    keep: false,
    variants: Array.from({ length: reps }, () => [BASELINE, 'fleetcmd'] as const).flat(),
    // A spawn-bound run falls behind; quick waits less for the backlog (counted as missed).
    maxDrainMs: quick ? 4_000 : 30_000,
    stamp,
  };
  const run = await runFireLag(opts);
  report(run.results, opts);
  console.log(spawnCeiling(run));
  const base = run.results.filter((r) => r.variant === BASELINE).map(phaseOf);
  const ours = run.results.filter((r) => r.variant === 'fleetcmd').map(phaseOf);
  const pairs = ours.map((o, k) => ({ ours: o.p99, baseline: base[k]?.p99 ?? NaN }));
  const spawn = `spawn ceiling ${run.spawnRates[0]?.perSecond.toFixed(0)}/s`;
  const tag = `schedule ${schedules}/s`;
  const list = (xs: Phase[], k: keyof Phase) => xs.map((x) => x[k]).join(', ');
  const phases =
    `${reps} alternating phase pairs (${BASELINE}, fleetcmd) of ${opts.seconds} s; ` +
    `ours p99 ${list(ours, 'p99')} ms, ${BASELINE} p99 ${list(base, 'p99')} ms; ` +
    `cpu ${list(ours, 'cpu')}; ${spawn}`;
  const p99 = median(ours.map((o) => o.p99));
  const baseP99 = median(base.map((b) => b.p99));
  const dup = ours.reduce((n, o) => n + o.duplicates, 0);
  const missed = ours.reduce((n, o) => n + o.missed, 0);
  const skipped = ours.reduce((n, o) => n + o.skipped, 0);
  const missedNote =
    `over ${reps} phases: never started, the ${skipped} the server skipped included; ` +
    `${BASELINE}'s own: ${base.reduce((n, b) => n + b.missed, 0)} missed (jumped slots)`;
  const scored = i === 0;
  const vsBaseline = `${BASELINE} p99 ${baseP99} ms (its own row); ${phases}`;
  results.push(
    scored
      ? score(
          `${tag}: fire lag p99`,
          'ms',
          p99,
          TARGET_P99_MS,
          'lower',
          1,
          `absolute target: p99 (median of the phases) <= ${TARGET_P99_MS} ms; ${STAMPED}; ${vsBaseline}`,
        )
      : reportOnly(`${tag}: fire lag p99`, 'ms', p99, vsBaseline),
    reportOnly(
      `${tag}: ${BASELINE} fire lag p99 (baseline)`,
      'ms',
      baseP99,
      `${STAMPED}; ${phases}`,
    ),
    ...(stamp === 'first'
      ? [
          reportOnly(
            `${tag}: fire lag p99, start stamped by $(date +%s%N)`,
            'ms',
            median(ours.map((o) => o.dateP99)),
            `the same starts, stamped after date's fork and exec (the measure before the ` +
              `first-instruction stamp); ${BASELINE}: ${median(base.map((b) => b.dateP99))} ms`,
          ),
        ]
      : []),
    scored
      ? mustBeZero(`${tag}: duplicated fires`, dup)
      : reportOnly(`${tag}: duplicated fires`, 'count', dup),
    scored
      ? mustBeZero(`${tag}: missed fires`, missed, missedNote)
      : reportOnly(`${tag}: missed fires`, 'count', missed, missedNote),
    reportOnly(
      `${tag}: fire lag p50 (median of phases)`,
      'ms',
      median(ours.map((o) => o.p50)),
      `${BASELINE}: ${median(base.map((b) => b.p50))} ms`,
    ),
    reportOnly(
      `${tag}: fire lag p99 / ${BASELINE} p99`,
      'ratio',
      round(median(pairs.map((p) => p.ours / p.baseline))),
      `median of the ${reps} neighbouring pairs`,
    ),
    reportOnly(
      `${tag}: skipped fires`,
      'count',
      skipped,
      'logged skipped (node still busy, or a later slot due when the job was taken); missed unless they ran anyway',
    ),
  );
}
await publish(results);
