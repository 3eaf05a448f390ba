/**
 * Fire lag of every-second schedules: from a fire's intended time to the command's start on the
 * node, for fleetcmd and, as the baseline, for BullMQ's own job schedulers, in one run against one
 * private redis-server per Redis `hz` (SPEC §6: with hz 10 blocked clients wake in ~100 ms steps,
 * with hz 100 in ~10 ms steps).
 *
 * Per hz, back to back on the same Redis, in-process server and agents. Back to back, not
 * interleaved: every schedule fires on the same second boundary, and on this two-core box
 * concurrent variants would mostly measure each other.
 *   bullmq        N job schedulers `* * * * * *` on one queue, one Worker in this process
 *                 (concurrency N); lag = processor start - due time (from the job id).
 *   bullmq+spawn  the same schedulers split over one queue per agent, each consumed by a child
 *                 process (as an agent is) that spawns the same tiny shell command fleetcmd runs,
 *                 with the same concurrency; lag = the command's own `date +%s%N` - due time.
 *   fleetcmd      N RunCommand invocations with Frequency `* * * * * *`, round-robin over the
 *                 agents (child processes `bin/fleetcmd.js agent`, on dist/ as in production; the
 *                 server runs in this process from the sources); the command appends
 *                 `$FLEETCMD_INVOKE_ID $FLEETCMD_FIRE_ID $(date +%s%N)` to a file, so the
 *                 intended time (fire id `f<ms>`) and the start are both on disk.
 *                 (`--stamp first`: every variant's command stamps its first instruction
 *                 instead, from the kernel's clock, without the fork and exec of date; see Stamp.)
 * Each phase creates its schedules, waits for the first whole second at least 3 s later (T0) and
 * measures the fires due in [T0, T0 + seconds); it then waits while their starts keep coming
 * (2.5 s at least, 30 s at most) before it stops the schedules.
 *   dup      repeated (schedule, fire) starts over the whole phase (expected 0).
 *   missed   fires due in the window that never started (expected 0), skipped ones included.
 *            BullMQ never back-fills: a worker that takes a fire more than a period late makes
 *            the scheduler jump to the next slot, so an overloaded baseline shows misses here;
 *            fleetcmd's skipped fires are counted the same way.
 *   skipped  fleetcmd only: fires the server logged as skipped, because the node was still busy
 *            with the previous run of the invocation (SPEC §3) or because a later slot was due
 *            when the fire's job was taken (superseded); from the server's log, cross-checked
 *            with DescribeInvocationResults' SkippedRepeats in the notes. A skipped fire that
 *            never started is one of the missed; one that started anyway is lagged by its start.
 * A second table splits the lag into hops by BullMQ's `added` and `active` events (stamped by
 * Redis's clock, the same host clock), read live from the queues' event streams during every
 * phase, and for fleetcmd also by the times the run records keep anyway (firedMs: the record went
 * Pending; startedMs: the agent's claim; both from the records' history entries): due -> fire job
 * active -> record Pending -> run job added -> run job active -> claimed -> command start. Notes
 * give the CPU ms per fire in the window of this process (bench and server), Redis and each agent
 * (its commands as its waited-for children). The box is shared: each row reports how busy the
 * machine was in its window and how much of that was other processes', and the spawn ceiling of
 * this process is measured before the phases.
 *
 * FLEETCMD_SCHEDULER_CONCURRENCY and FLEETCMD_DELIVERY_TIMEOUT_SECONDS are passed on to the
 * server from the environment (with the default 60 s no fire's delivery check comes due in a
 * short window; a few seconds shows the steady state).
 *
 *   node --import tsx bench/fire-lag.ts [seconds=60] [schedules=100] [hz,...=100]
 *     [--hz 100,10] [--agents 4] [--concurrency 32] [--variants bullmq,fleetcmd] [--keep]
 *     [--stamp date|first]
 *
 * One hz takes about 3.5 minutes with the defaults (three phases of `seconds` + ~8 s each);
 * `--hz 10` measures Redis's default setting, `--hz 100,10` both in one run (~7 minutes).
 * `--concurrency` is FLEETCMD_AGENT_CONCURRENCY and the baseline children's worker concurrency
 * (32 >= the 25 schedules per agent, so no fire waits for a free slot). `--keep` keeps the temp
 * directory (command lines, server, agent and worker logs).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Queue, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { ApiClient } from '../src/cli/api-client.js';
import { loadConfig } from '../src/shared/config.js';
import { startServer } from '../src/server/main.js';
import { startPrivateRedis } from '../src/dev/private-redis.js';
import { settleWithin } from '../src/shared/settle.js';
import { Keys } from '../src/store/keys.js';
import { runJobId, scheduleId } from '../src/store/queues.js';
import { ensureBuilt, waitRegistered } from './local-stack.js';
import {
  Cleanup,
  cpuSample,
  processTicks,
  cpuShare,
  exited,
  killGroup,
  sleep,
  spawnLogged,
  tail,
  type CpuShare,
} from './processes.js';
import { percentile as pct, table } from './harness.js';

/** The agents run as production runs them: the compiled CLI (dist/, built first when stale). */
const BIN = fileURLToPath(new URL('../bin/fleetcmd.js', import.meta.url));
const SELF = fileURLToPath(import.meta.url);
const EVERY_SECOND = '* * * * * *';
/** Schedules exist this long before the measured window opens (first fires are not measured). */
const WARMUP_MS = 3_000;
/**
 * After the window closes, fires due in it get at least this long to start, and more while their
 * starts keep coming (an overloaded box works through a backlog), up to `maxDrainMs`.
 */
const DRAIN_MS = 2_500;
const FLEET_PREFIX = 'fl';
const ALL_VARIANTS: readonly Variant[] = ['bullmq', 'bullmq+spawn', 'fleetcmd'];
/** Set in the environment of the bullmq+spawn worker children (JSON WorkerSpec). */
const WORKER_ENV = 'FIRE_LAG_WORKER';

export type Variant = 'fleetcmd' | 'bullmq' | 'bullmq+spawn';

/** What one run of the phases measures; main() fills it from the command line. */
export interface FireLagOptions {
  /** Length of each phase's measured window. */
  seconds: number;
  /** Every-second schedules per phase. */
  schedules: number;
  /** One private redis-server per entry, its phases back to back. */
  hzList: number[];
  agents: number;
  /** FLEETCMD_AGENT_CONCURRENCY, and the bullmq+spawn children's worker concurrency. */
  concurrency: number;
  /** Keep the temp directory (command lines, logs). */
  keep: boolean;
  /** Phases to run, in this order. @default all three */
  variants?: readonly Variant[];
  /** How long past the window a backlog of starts is waited for. @default 30000 */
  maxDrainMs?: number;
  /** How the commands stamp their start (see Stamp). @default 'date' */
  stamp?: Stamp;
}

/** One start of a command (or processor) for one fire of one schedule. */
interface Start {
  id: string;
  dueMs: number;
  startMs: number;
  /** With Stamp `first`: when the same command's `$(date +%s%N)` ran, after its first stamp. */
  dateMs?: number;
}

export interface Hop {
  name: string;
  values: number[];
}

/** One phase's measurements: lags in ms (intended fire time -> start), counts, hops, CPU. */
export interface Result {
  variant: Variant;
  hz: number;
  lags: number[];
  /**
   * With Stamp `first`: the same starts' lags as `$(date +%s%N)` stamps them (what Stamp `date`
   * measures), from the same commands in the same run.
   */
  dateLags?: number[];
  duplicates: number;
  /** Fires due in the window that never started, skipped ones included. */
  missed: number;
  /** Fires due in the window that the server logged as skipped (fleetcmd only). */
  skipped: number | undefined;
  hops: Hop[];
  cpu: CpuShare;
  notes: string[];
}

interface WorkerSpec {
  redisUrl: string;
  prefix: string;
  queue: string;
  concurrency: number;
  file: string;
  stamp: Stamp;
}

// ---------------------------------------------------------------------------------------------
// Small helpers

const sleepUntil = (ms: number) => sleep(ms - Date.now());

function positiveInt(name: string, text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1) throw new Error(`${name} must be a positive whole number`);
  return n;
}

function parseOptions(argv: string[]): FireLagOptions {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      hz: { type: 'string' },
      agents: { type: 'string' },
      concurrency: { type: 'string' },
      keep: { type: 'boolean' },
      variants: { type: 'string' },
      stamp: { type: 'string' },
    },
  });
  const variants = (values.variants ?? ALL_VARIANTS.join(',')).split(',').map((v) => v.trim());
  for (const v of variants) {
    if (!ALL_VARIANTS.includes(v as Variant)) {
      throw new Error(`--variants: unknown variant '${v}' (known: ${ALL_VARIANTS.join(', ')})`);
    }
  }
  const [seconds = '60', schedules = '100', hz = values.hz ?? '100'] = positionals;
  const hzList = hz.split(',').map((h) => positiveInt('hz', h.trim()));
  if (hzList.some((h) => h > 500)) throw new Error('hz must be 1..500');
  return {
    seconds: positiveInt('seconds', seconds),
    schedules: positiveInt('schedules', schedules),
    hzList,
    agents: positiveInt('--agents', values.agents ?? '4'),
    concurrency: positiveInt('--concurrency', values.concurrency ?? '32'),
    keep: values.keep === true,
    variants: variants as Variant[],
    stamp: parseStamp(values.stamp),
  };
}

/** `--stamp date|first` (see Stamp). */
export function parseStamp(text: string | undefined): Stamp {
  if (text === undefined || text === 'date' || text === 'first') return text ?? 'date';
  throw new Error(`--stamp: 'date' or 'first', not '${text}'`);
}

/**
 * How a command stamps its start. `date`: `$(date +%s%N)`, a fork and an exec of date before the
 * time is read, which at a slot where every command starts at once costs each one its share of
 * 50 forks and execs. `first`: the command's first instruction reads the kernel's monotonic
 * clock from /proc/timer_list with the shell's own `read` (no process started; the file is
 * root's only), and the benchmark turns it into the wall clock; the command then stamps
 * `$(date +%s%N)` as well, so the machine does the same work as with `date` and both measures
 * come from the same starts (Result.dateLags). Both variants run the same command.
 */
export type Stamp = 'date' | 'first';

/** The kernel's clock, readable by the shell without a process: line 3 is `now at <ns> nsecs`. */
const TIMER_LIST = '/proc/timer_list';

/** The command every spawned variant runs: one line per start, appended to `file`. */
function commandFor(file: string, stamp: Stamp = 'date'): string {
  if (stamp === 'first') {
    return (
      `{ read -r x; read -r x; read -r x x t x; } < ${TIMER_LIST}; ` +
      `echo "$FLEETCMD_INVOKE_ID $FLEETCMD_FIRE_ID m$t $(date +%s%N)" >> '${file}'`
    );
  }
  return `echo "$FLEETCMD_INVOKE_ID $FLEETCMD_FIRE_ID $(date +%s%N)" >> '${file}'`;
}

/** Whether this process can read TIMER_LIST (the commands run as its user): `first` needs it. */
export async function canStampFirst(): Promise<boolean> {
  return readFile(TIMER_LIST, 'utf8').then(
    (t) => /^now at \d+ nsecs$/m.test(t),
    () => false,
  );
}

/**
 * The wall clock minus the monotonic one (ms), read at a tick of Date.now (so to well under a
 * millisecond): turns TIMER_LIST's stamps into the wall clock the due times are on.
 */
function wallMinusMonoMs(): number {
  const d0 = Date.now();
  let d = d0;
  while (d === d0) d = Date.now();
  return d - Number(process.hrtime.bigint()) / 1e6;
}

/** A BullMQ job scheduler's job id is `repeat:<schedulerId>:<dueMs>`; opts.prevMillis agrees. */
function dueOf(job: Job): number | undefined {
  const last = job.id?.split(':').pop() ?? '';
  if (/^\d+$/.test(last)) return Number(last);
  return job.opts.prevMillis;
}

/** Nanoseconds as digits -> ms: they do not fit a double exactly, so split into ms and the rest. */
function nsToMs(digits: string): number {
  return Number(digits.slice(0, -6)) + Number(digits.slice(-6)) / 1e6;
}

/**
 * Lines `<id> f<dueMs> <epoch ns>`, or `<id> f<dueMs> m<monotonic ns> <epoch ns>` (Stamp
 * `first`) -> starts (ms with sub-ms fraction, wall clock).
 */
function parseStarts(text: string): { starts: Start[]; malformed: number } {
  const starts: Start[] = [];
  let malformed = 0;
  let monoToWallMs: number | undefined;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const [id, fire, stamp, date] = line.trim().split(' ');
    const ns = stamp?.replace(/^m/, '');
    if (!id || !fire || !/^f\d+$/.test(fire) || !ns || !/^\d{7,}$/.test(ns)) {
      malformed++;
      continue;
    }
    let startMs = nsToMs(ns);
    if (stamp?.startsWith('m')) startMs += monoToWallMs ??= wallMinusMonoMs();
    else if (ns.length < 13) {
      malformed++;
      continue;
    }
    const start: Start = { id, dueMs: Number(fire.slice(1)), startMs };
    if (date !== undefined) {
      if (!/^\d{13,}$/.test(date)) {
        malformed++;
        continue;
      }
      start.dateMs = nsToMs(date);
    }
    starts.push(start);
  }
  return { starts, malformed };
}

async function readStarts(files: string[]): Promise<{ starts: Start[]; malformed: number }> {
  const all: Start[] = [];
  let malformed = 0;
  for (const f of files) {
    const parsed = parseStarts(await readFile(f, 'utf8').catch(() => ''));
    all.push(...parsed.starts);
    malformed += parsed.malformed;
  }
  return { starts: all, malformed };
}

const fireKey = (id: string, dueMs: number) => `${id} ${dueMs}`;

/**
 * Lags of the first start of each fire due in [t0, t1), duplicates over all starts, and per
 * schedule the expected whole-second fires of the window that never started: missed, whether or
 * not the server logged them as skipped (`skipped` holds fireKeys). `skippedRan` counts fires
 * both skipped and started (lagged by their start like any other).
 */
export function account(
  starts: Start[],
  ids: readonly string[],
  t0: number,
  t1: number,
  skipped: ReadonlySet<string> = new Set(),
): {
  lags: number[];
  /** The same fires' lags by their `$(date +%s%N)` stamps (Stamp `first` only). */
  dateLags: number[];
  first: Map<string, Start>;
  duplicates: number;
  missed: number;
  skippedRan: number;
} {
  const first = new Map<string, Start>();
  let duplicates = 0;
  for (const s of starts) {
    const k = fireKey(s.id, s.dueMs);
    const seen = first.get(k);
    if (seen) {
      duplicates++;
      if (s.startMs < seen.startMs) first.set(k, s);
    } else first.set(k, s);
  }
  const lags: number[] = [];
  const dateLags: number[] = [];
  for (const s of first.values()) {
    if (s.dueMs < t0 || s.dueMs >= t1) continue;
    lags.push(s.startMs - s.dueMs);
    if (s.dateMs !== undefined) dateLags.push(s.dateMs - s.dueMs);
  }
  let missed = 0;
  let skippedRan = 0;
  for (const id of ids) {
    for (let due = t0; due < t1; due += 1000) {
      const k = fireKey(id, due);
      if (first.has(k) && skipped.has(k)) skippedRan++;
      else if (!first.has(k)) missed++;
    }
  }
  return { lags, dateLags, first, duplicates, missed, skippedRan };
}

interface Stage {
  name: string;
  /** When a fire of schedule `id` due at `due` reached this stage (its job became active). */
  at: (id: string, due: number) => number | undefined;
}

/**
 * Sorts the missed fires (due in the window, never started) by why: skipped by the server (with
 * the reason it logged), else the last stage each reached. A fire that never reached the first stage (its scheduler job) while an earlier fire
 * of the same schedule was taken after this one was due was jumped over by BullMQ's scheduler,
 * which computes the next slot from the time it takes the current job.
 */
function whyMissed(
  ids: readonly string[],
  t0: number,
  t1: number,
  first: ReadonlyMap<string, Start>,
  skipped: ReadonlyMap<string, string>,
  stages: readonly Stage[],
): string | undefined {
  const counts = new Map<string, number>();
  /** For fires with no job: how late the previous taken fire's job was. */
  const noJobLate: number[] = [];
  let total = 0;
  const add = (k: string) => counts.set(k, (counts.get(k) ?? 0) + 1);
  const [head, ...rest] = stages;
  for (const id of ids) {
    for (let due = t0; due < t1; due += 1000) {
      const k = fireKey(id, due);
      if (first.has(k)) continue;
      total++;
      const reason = skipped.get(k);
      if (reason !== undefined) {
        add(`skipped by the server (${reason})`);
        continue;
      }
      if (!head) continue;
      if (head.at(id, due) === undefined) {
        // The latest earlier fire of this schedule whose job was taken, and how late.
        let lateMs: number | undefined;
        let takenMs: number | undefined;
        for (let p = due - 1000; p >= due - 10_000 && takenMs === undefined; p -= 1000) {
          takenMs = head.at(id, p);
          if (takenMs !== undefined) lateMs = takenMs - p;
        }
        if (takenMs !== undefined && takenMs >= due) {
          add(`jumped over by BullMQ's scheduler (an earlier fire's job taken after this was due)`);
        } else {
          add(`no ${head.name}`);
          if (lateMs !== undefined) noJobLate.push(lateMs);
        }
        continue;
      }
      let reached = head.name;
      for (const st of rest) {
        if (st.at(id, due) === undefined) break;
        reached = st.name;
      }
      add(`${reached} taken, never started`);
    }
  }
  if (total === 0) return undefined;
  const late =
    noJobLate.length === 0
      ? ''
      : ` (no ${head?.name ?? 'job'}: the fire before was taken ${Math.min(...noJobLate)}..` +
        `${Math.max(...noJobLate)} ms late; BullMQ computes the next slot in the worker after ` +
        `taking a job, so a starved worker jumps a slot with less than a period in Redis)`;
  return `missed ${total}: ${[...counts].map(([k, n]) => `${n} ${k}`).join('; ')}${late}`;
}

/** Fires due in [t0, t1) that started so far (distinct). */
function windowCount(starts: readonly Start[], t0: number, t1: number): number {
  const keys = new Set<string>();
  for (const s of starts) if (s.dueMs >= t0 && s.dueMs < t1) keys.add(fireKey(s.id, s.dueMs));
  return keys.size;
}

/**
 * Waits DRAIN_MS past the window, then while starts of window fires keep arriving (checked each
 * second, at half past, away from the fires), at most until t1 + MAX_DRAIN_MS.
 */
async function drain(
  t1: number,
  opts: FireLagOptions,
  count: () => Promise<number>,
): Promise<void> {
  await sleepUntil(t1 + DRAIN_MS);
  let last = await count();
  while (Date.now() < t1 + (opts.maxDrainMs ?? 30_000)) {
    await sleepUntil(Math.floor(Date.now() / 1000) * 1000 + 1500);
    const now = await count();
    if (now === last) return;
    last = now;
  }
}

const ms = (v: number) => (Number.isFinite(v) ? v.toFixed(1) : '-');

// ---------------------------------------------------------------------------------------------
// CPU: this box is shared, so each window reports how busy it was and how much of that was not
// this benchmark's processes (the bench, Redis, agents, worker children and what they spawned).

/** Named processes whose CPU a window reports by name (ms of CPU per fire in notes). */
type Watched = { name: string; pid: number }[];

/**
 * Sleeps through the window [t0, t1), sampling CPU at both ends; with `watched`, also each of
 * those processes' CPU ms over the window (its own, and its waited-for children's).
 */
async function measureWindow(
  t0: number,
  t1: number,
  pids: () => number[],
  watched: Watched = [],
): Promise<CpuShare & { byProcess: { name: string; ownMs: number; childrenMs: number }[] }> {
  await sleepUntil(t0);
  const a = await cpuSample(pids());
  const wa = await Promise.all(watched.map((w) => processTicks(w.pid)));
  await sleepUntil(t1);
  const b = await cpuSample(pids());
  const wb = await Promise.all(watched.map((w) => processTicks(w.pid)));
  const byProcess = watched.map((w, i) => ({
    name: w.name,
    ownMs: ((wb[i]?.own ?? 0) - (wa[i]?.own ?? 0)) * 10,
    childrenMs: ((wb[i]?.children ?? 0) - (wa[i]?.children ?? 0)) * 10,
  }));
  return { ...cpuShare(a, b), byProcess };
}

/** `name own+children` CPU ms per fire, for a note. */
function cpuPerFire(
  byProcess: readonly { name: string; ownMs: number; childrenMs: number }[],
  fires: number,
): string {
  const per = (v: number) => (v / Math.max(1, fires)).toFixed(2);
  return byProcess
    .map(
      (p) =>
        `${p.name} ${per(p.ownMs)}${p.childrenMs > 0 ? ` (+${per(p.childrenMs)} children)` : ''}`,
    )
    .join(', ');
}

/**
 * Spawns per second this process manages right now (the command each variant runs, to /dev/null,
 * 16 in flight, for ~1 s): the box's current ceiling, which every spawning variant shares.
 */
async function spawnRate(stamp: Stamp, ms = 1_000): Promise<number> {
  const t0 = performance.now();
  let done = 0;
  const one = async (): Promise<void> => {
    while (performance.now() - t0 < ms) {
      await runShell(commandFor('/dev/null', stamp), {
        FLEETCMD_INVOKE_ID: 'x',
        FLEETCMD_FIRE_ID: 'f0',
      });
      done++;
    }
  };
  await Promise.all(Array.from({ length: 16 }, one));
  return done / ((performance.now() - t0) / 1000);
}

// ---------------------------------------------------------------------------------------------
// BullMQ `active` events, read live from the queues' event streams (they keep ~10k entries).

class ActiveEvents {
  private readonly at = new Map<string, number>();
  private readonly redis: Redis;
  private stopped = false;
  private readonly loop: Promise<void>;

  constructor(url: string, streams: readonly string[]) {
    this.redis = new Redis(url, { maxRetriesPerRequest: null });
    this.redis.on('error', () => undefined);
    this.loop = this.follow(streams);
  }

  private async follow(streams: readonly string[]): Promise<void> {
    const ids = streams.map(() => `${Date.now()}-0`);
    while (!this.stopped) {
      const res = (await this.redis.call(
        'XREAD',
        'COUNT',
        '5000',
        'BLOCK',
        '250',
        'STREAMS',
        ...streams,
        ...ids,
      )) as [string, [string, string[]][]][] | null;
      for (const [stream, entries] of res ?? []) {
        const i = streams.indexOf(stream);
        for (const [id, fields] of entries) {
          ids[i] = id;
          if (fields[0] !== 'event' || (fields[1] !== 'active' && fields[1] !== 'added')) continue;
          const j = fields.indexOf('jobId');
          const jobId = j >= 0 ? fields[j + 1] : undefined;
          if (jobId === undefined) continue;
          const key = `${stream} ${jobId}${fields[1] === 'added' ? ' added' : ''}`;
          if (!this.at.has(key)) this.at.set(key, Number(id.split('-')[0]));
        }
      }
    }
  }

  /** When the job first became active. */
  get(stream: string, jobId: string): number | undefined {
    return this.at.get(`${stream} ${jobId}`);
  }

  /** When the job was first added (BullMQ's `added` event). */
  added(stream: string, jobId: string): number | undefined {
    return this.at.get(`${stream} ${jobId} added`);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await settleWithin(this.loop, 2_000);
    this.redis.disconnect();
  }
}

/** `<prefix>:<queue>:events`, as BullMQ names a queue's event stream. */
const eventsKey = (prefix: string, queue: string) => `${prefix}:${queue}:events`;

function windowOf(opts: FireLagOptions): { t0: number; t1: number } {
  const t0 = Math.ceil((Date.now() + WARMUP_MS) / 1000) * 1000;
  return { t0, t1: t0 + opts.seconds * 1000 };
}

// ---------------------------------------------------------------------------------------------
// Variants

interface Stack {
  hz: number;
  /** This phase's files' name stem: the hz, and the phase's repetition of its variant. */
  tag: string;
  redisUrl: string;
  api: ApiClient;
  nodeIds: string[];
  dir: string;
  cleanup: Cleanup;
  /** This benchmark's long-lived processes (bench, Redis, agents). */
  pids: () => number[];
  /** The same by name: this process (bench and server), Redis, each agent. */
  watched: () => Watched;
  serverLog: string;
}

/** BullMQ alone: N schedulers on one queue, one in-process Worker; no command is run. */
async function runBullmq(stack: Stack, opts: FireLagOptions): Promise<Result> {
  const prefix = 'bb';
  const name = 'lag';
  const queueConn = new Redis(stack.redisUrl, { maxRetriesPerRequest: null });
  const workerConn = new Redis(stack.redisUrl, { maxRetriesPerRequest: null });
  const queue = new Queue(name, { connection: queueConn, prefix });
  const starts: Start[] = [];
  const active: number[] = [];
  const events = new ActiveEvents(stack.redisUrl, [eventsKey(prefix, name)]);
  const worker = new Worker(
    name,
    async (job: Job) => {
      const startMs = Date.now();
      const dueMs = dueOf(job);
      if (dueMs !== undefined) starts.push({ id: job.repeatJobKey ?? '', dueMs, startMs });
    },
    { connection: workerConn, prefix, concurrency: opts.schedules },
  );
  worker.on('error', (err) => console.error(`bullmq worker: ${err.message}`));
  const release = stack.cleanup.defer('bullmq baseline', async () => {
    await worker.close(true);
    await events.stop();
    await settleWithin(queue.obliterate({ force: true }), 5_000);
    await queue.close();
    queueConn.disconnect();
    workerConn.disconnect();
  });
  try {
    await worker.waitUntilReady();
    const ids = Array.from({ length: opts.schedules }, (_, i) => `b-${i}`);
    for (const id of ids) {
      await queue.upsertJobScheduler(
        id,
        { pattern: EVERY_SECOND },
        { name: 'tick', opts: { removeOnComplete: true, removeOnFail: true } },
      );
    }
    const { t0, t1 } = windowOf(opts);
    const cpu = await measureWindow(t0, t1, stack.pids, stack.watched().slice(0, 2));
    await drain(t1, opts, () => Promise.resolve(windowCount(starts, t0, t1)));
    for (const id of ids) await queue.removeJobScheduler(id);
    const acc = account(starts, ids, t0, t1);
    const toActive: number[] = [];
    for (const s of acc.first.values()) {
      if (s.dueMs < t0 || s.dueMs >= t1) continue;
      const a = events.get(eventsKey(prefix, name), `repeat:${s.id}:${s.dueMs}`);
      if (a === undefined) continue;
      toActive.push(a - s.dueMs);
      active.push(s.startMs - a);
    }
    const why = whyMissed(ids, t0, t1, acc.first, new Map(), [
      { name: 'job', at: (id, due) => events.get(eventsKey(prefix, name), `repeat:${id}:${due}`) },
    ]);
    return {
      variant: 'bullmq',
      hz: stack.hz,
      lags: acc.lags,
      duplicates: acc.duplicates,
      missed: acc.missed,
      skipped: undefined,
      hops: [
        { name: 'due -> job active', values: toActive },
        { name: 'job active -> processor', values: active },
      ],
      cpu,
      notes: [
        `CPU ms per fire in the window: ${cpuPerFire(cpu.byProcess, opts.schedules * opts.seconds)}`,
        ...(why ? [why] : []),
      ],
    };
  } finally {
    await release();
  }
}

/**
 * BullMQ + spawn: the schedulers split over one queue per agent, each consumed by a child process
 * with the agents' concurrency that runs the same command fleetcmd runs.
 */
async function runBullmqSpawn(stack: Stack, opts: FireLagOptions): Promise<Result> {
  const prefix = 'bs';
  const queues = stack.nodeIds.map((_, i) => `lag-${i}`);
  const files = queues.map((q) => join(stack.dir, `${stack.tag}-bullmq-spawn-${q}.lines`));
  const children: ChildProcess[] = [];
  const conn = new Redis(stack.redisUrl, { maxRetriesPerRequest: null });
  const producers = queues.map((q) => new Queue(q, { connection: conn, prefix }));
  const events = new ActiveEvents(
    stack.redisUrl,
    queues.map((q) => eventsKey(prefix, q)),
  );
  const release = stack.cleanup.defer('bullmq+spawn baseline', async () => {
    await Promise.all(children.map((c) => killGroup(c, 5_000)));
    await events.stop();
    for (const p of producers) {
      await settleWithin(p.obliterate({ force: true }), 5_000);
      await p.close();
    }
    conn.disconnect();
  });
  try {
    for (const [i, queue] of queues.entries()) {
      const spec: WorkerSpec = {
        redisUrl: stack.redisUrl,
        prefix,
        queue,
        concurrency: opts.concurrency,
        file: files[i] as string,
        stamp: opts.stamp ?? 'date',
      };
      const log = join(stack.dir, `${stack.tag}-bullmq-spawn-${queue}.log`);
      await writeFile(log, '');
      const child = spawnLogged(
        ['--import', 'tsx', SELF],
        { [WORKER_ENV]: JSON.stringify(spec) },
        log,
      );
      children.push(child);
    }
    // Each child writes `ready` to its log once its Worker is connected.
    const deadline = Date.now() + 30_000;
    for (const [i, queue] of queues.entries()) {
      const log = join(stack.dir, `${stack.tag}-bullmq-spawn-${queue}.log`);
      while (!(await readFile(log, 'utf8')).includes('ready')) {
        if (exited(children[i] as ChildProcess) || Date.now() > deadline) {
          throw new Error(`bullmq+spawn worker ${queue} did not start:\n${await tail(log)}`);
        }
        await sleep(50);
      }
    }
    const ids: string[] = [];
    const queueOf = new Map<string, number>();
    for (let i = 0; i < opts.schedules; i++) {
      const q = i % queues.length;
      const id = `s-${i}`;
      ids.push(id);
      queueOf.set(id, q);
      await producers[q]?.upsertJobScheduler(
        id,
        { pattern: EVERY_SECOND },
        { name: 'tick', opts: { removeOnComplete: true, removeOnFail: true } },
      );
    }
    const { t0, t1 } = windowOf(opts);
    const cpu = await measureWindow(t0, t1, () => [
      ...stack.pids(),
      ...children.flatMap((c) => (c.pid === undefined ? [] : [c.pid])),
    ]);
    await drain(t1, opts, async () => windowCount((await readStarts(files)).starts, t0, t1));
    for (const id of ids) await producers[queueOf.get(id) ?? 0]?.removeJobScheduler(id);
    await sleep(500);
    const { starts, malformed } = await readStarts(files);
    const acc = account(starts, ids, t0, t1);
    const notes = malformed > 0 ? [`${malformed} malformed lines`] : [];
    const toActive: number[] = [];
    const toStart: number[] = [];
    for (const s of acc.first.values()) {
      if (s.dueMs < t0 || s.dueMs >= t1) continue;
      const q = queues[queueOf.get(s.id) ?? 0] ?? '';
      const a = events.get(eventsKey(prefix, q), `repeat:${s.id}:${s.dueMs}`);
      if (a === undefined) continue;
      toActive.push(a - s.dueMs);
      toStart.push(s.startMs - a);
    }
    const why = whyMissed(ids, t0, t1, acc.first, new Map(), [
      {
        name: 'job',
        at: (id, due) =>
          events.get(eventsKey(prefix, queues[queueOf.get(id) ?? 0] ?? ''), `repeat:${id}:${due}`),
      },
    ]);
    if (why) notes.push(why);
    return {
      variant: 'bullmq+spawn',
      hz: stack.hz,
      lags: acc.lags,
      ...(acc.dateLags.length > 0 ? { dateLags: acc.dateLags } : {}),
      duplicates: acc.duplicates,
      missed: acc.missed,
      skipped: undefined,
      hops: [
        { name: 'due -> job active', values: toActive },
        { name: 'job active -> command start', values: toStart },
      ],
      cpu,
      notes,
    };
  } finally {
    await release();
  }
}

/** `fn` over `items`, ten calls in flight at a time (API calls: fast, but not a flood). */
async function tenAtATime<T, R>(items: readonly T[], fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += 10)
    out.push(...(await Promise.all(items.slice(i, i + 10).map(fn))));
  return out;
}

/** fleetcmd: N every-second Period invocations, one node each, round-robin over the agents. */
async function runFleetcmd(stack: Stack, opts: FireLagOptions): Promise<Result> {
  const keys = new Keys(FLEET_PREFIX);
  const files = stack.nodeIds.map((n) => join(stack.dir, `${stack.tag}-fleetcmd-${n}.lines`));
  const schedStream = eventsKey(keys.schedulerQueuePrefix(), keys.schedulerQueueName());
  const nodeStream = (n: string) => eventsKey(keys.nodeQueuePrefix(), keys.nodeQueueName(n));
  const events = new ActiveEvents(stack.redisUrl, [schedStream, ...stack.nodeIds.map(nodeStream)]);
  const invokeIds: string[] = [];
  const nodeOf = new Map<string, string>();
  /** When each StopInvocation answered: no fire due after that may start. */
  const stoppedAt = new Map<string, number>();
  const stopAll = () =>
    tenAtATime(invokeIds, async (id) => {
      await stack.api.call('StopInvocation', { InvokeId: id }).catch(() => undefined);
      stoppedAt.set(id, Date.now());
    });
  let stopped = false;
  const release = stack.cleanup.defer('fleetcmd invocations', async () => {
    if (!stopped) await stopAll();
    await events.stop();
  });
  try {
    const created = await tenAtATime([...Array(opts.schedules).keys()], async (i) => {
      const node = stack.nodeIds[i % stack.nodeIds.length] as string;
      const { InvokeId } = await stack.api.call<{ InvokeId: string }>('RunCommand', {
        NodeIdList: [node],
        CommandContent: commandFor(files[i % stack.nodeIds.length] as string, opts.stamp),
        Frequency: EVERY_SECOND,
        Name: `fire-lag-${i}`,
        Timeout: 30,
      });
      return { InvokeId, node };
    });
    for (const { InvokeId, node } of created) {
      invokeIds.push(InvokeId);
      nodeOf.set(InvokeId, node);
    }
    const { t0, t1 } = windowOf(opts);
    const cpu = await measureWindow(t0, t1, stack.pids, stack.watched());
    await drain(t1, opts, async () => windowCount((await readStarts(files)).starts, t0, t1));
    await stopAll();
    stopped = true;
    await sleep(1_000);

    // Per node: skipped fires (SkippedRepeats, over the invocation's life), and the states the
    // records ended in. Which fires were skipped comes from the server's log.
    let apiSkipped = 0;
    const finalStates = new Map<string, number>();
    const described = await tenAtATime(invokeIds, (id) =>
      stack.api.call<{
        Invocation: {
          InvocationResults: {
            InvocationResult: { SkippedRepeats?: number; InvocationStatus?: string }[];
          };
        };
      }>('DescribeInvocationResults', { InvokeId: id }),
    );
    for (const r of described) {
      for (const row of r.Invocation.InvocationResults.InvocationResult) {
        apiSkipped += row.SkippedRepeats ?? 0;
        const st = row.InvocationStatus ?? '?';
        finalStates.set(st, (finalStates.get(st) ?? 0) + 1);
      }
    }
    const loggedSkips = await skippedFires(stack.serverLog);
    const ids = new Set(invokeIds);
    const skippedInWindow = new Map(
      [...loggedSkips].filter(([k]) => {
        const [id = '', due = ''] = k.split(' ');
        return ids.has(id) && Number(due) >= t0 && Number(due) < t1;
      }),
    );
    const { starts, malformed } = await readStarts(files);
    const acc = account(starts, invokeIds, t0, t1, new Set(skippedInWindow.keys()));
    const times = await runTimes(stack.redisUrl, keys, invokeIds, nodeOf);
    const hopNames = [
      'due -> fire job active',
      'fire job active -> run record Pending',
      'run record Pending -> run job added',
      'run job added -> run job active',
      'run job active -> run claimed',
      'run claimed -> command start',
    ];
    const hopValues: number[][] = hopNames.map(() => []);
    for (const s of acc.first.values()) {
      if (s.dueMs < t0 || s.dueMs >= t1) continue;
      const node = nodeStream(nodeOf.get(s.id) ?? '');
      const runId = runJobId(s.id, `f${s.dueMs}`);
      const run = times.get(fireKey(s.id, s.dueMs));
      // Each stage's time (Redis's clock but the command's own, same host clock); a hop is
      // counted where both of its ends were seen.
      const stages = [
        s.dueMs,
        events.get(schedStream, `repeat:${scheduleId(s.id, 0)}:${s.dueMs}`),
        run?.firedMs,
        events.added(node, runId),
        events.get(node, runId),
        run?.startedMs,
        s.startMs,
      ];
      for (let h = 0; h < hopNames.length; h++) {
        const a = stages[h];
        const b = stages[h + 1];
        if (a !== undefined && b !== undefined) hopValues[h]?.push(b - a);
      }
    }
    const notes = [
      `CPU ms per fire in the window: ${cpuPerFire(cpu.byProcess, opts.schedules * opts.seconds)}`,
      `records after stop: ${[...finalStates.entries()].map(([k, v]) => `${k} ${v}`).join(', ')}`,
      `skipped over the whole phase: SkippedRepeats ${apiSkipped}, server log ${
        [...loggedSkips.keys()].filter((k) => ids.has(k.split(' ')[0] ?? '')).length
      }`,
    ];
    if (acc.skippedRan > 0) notes.push(`${acc.skippedRan} fires both skipped and started`);
    await sleep(1_000);
    const late = (await readStarts(files)).starts.filter(
      (s) => s.dueMs > (stoppedAt.get(s.id) ?? Infinity),
    );
    notes.push(`fires due after StopInvocation answered that started anyway: ${late.length}`);
    const why = whyMissed(invokeIds, t0, t1, acc.first, skippedInWindow, [
      {
        name: 'fire job',
        at: (id, due) => events.get(schedStream, `repeat:${scheduleId(id, 0)}:${due}`),
      },
      {
        name: 'run job',
        at: (id, due) => events.get(nodeStream(nodeOf.get(id) ?? ''), runJobId(id, `f${due}`)),
      },
    ]);
    if (why) notes.push(why);
    if (malformed > 0) notes.push(`${malformed} malformed lines`);
    return {
      variant: 'fleetcmd',
      hz: stack.hz,
      lags: acc.lags,
      ...(acc.dateLags.length > 0 ? { dateLags: acc.dateLags } : {}),
      duplicates: acc.duplicates,
      missed: acc.missed,
      skipped: skippedInWindow.size,
      hops: hopNames.map((name, h) => ({ name, values: hopValues[h] ?? [] })),
      cpu,
      notes,
    };
  } finally {
    await release();
  }
}

/**
 * When each run of the invocations was fired (its record went Pending) and claimed, by fireKey,
 * from the records' history entries (Redis's clock): what the scheduler and agent stamp anyway.
 */
async function runTimes(
  url: string,
  keys: Keys,
  invokeIds: readonly string[],
  nodeOf: ReadonlyMap<string, string>,
): Promise<Map<string, { firedMs?: number; startedMs?: number }>> {
  const redis = new Redis(url, { maxRetriesPerRequest: null });
  const out = new Map<string, { firedMs?: number; startedMs?: number }>();
  const num = (v: string | null) => (v === null || v === '' ? undefined : Number(v));
  try {
    for (const id of invokeIds) {
      const node = nodeOf.get(id) ?? '';
      const seqs = await redis.lrange(keys.runHistory(node, id), 0, -1);
      const pipe = redis.pipeline();
      for (const seq of seqs) {
        pipe.hmget(keys.runHistoryEntry(node, id, Number(seq)), 'fire', 'firedMs', 'startedMs');
      }
      for (const [err, row] of (await pipe.exec()) ?? []) {
        if (err) continue;
        const [fire, firedMs, startedMs] = row as (string | null)[];
        if (!fire || !/^f\d+$/.test(fire)) continue;
        out.set(fireKey(id, Number(fire.slice(1))), {
          firedMs: num(firedMs ?? null),
          startedMs: num(startedMs ?? null),
        });
      }
    }
    return out;
  } finally {
    redis.disconnect();
  }
}

/**
 * The fires the server logged as skipped (node still busy with the previous run, or superseded by
 * a later slot), by fireKey, with the reason it logged.
 */
async function skippedFires(serverLog: string): Promise<Map<string, string>> {
  const keys = new Map<string, string>();
  const text = await readFile(serverLog, 'utf8').catch(() => '');
  for (const line of text.split('\n')) {
    if (!line.includes('fire skipped')) continue;
    try {
      const rec = JSON.parse(line) as { invokeId?: string; fireId?: string; msg?: string };
      if (rec.invokeId && rec.fireId && /^f\d+$/.test(rec.fireId)) {
        const reason = (rec.msg ?? '').replace(/^fire skipped:\s*/, '') || 'no reason logged';
        keys.set(fireKey(rec.invokeId, Number(rec.fireId.slice(1))), reason);
      }
    } catch {
      // Not a log record.
    }
  }
  return keys;
}

// ---------------------------------------------------------------------------------------------
// One stack per hz: private redis-server, server in this process, agents as child processes.

/** Counts warnings and errors (and notable info messages) in pino JSON logs. */
async function logSummary(files: string[]): Promise<string[]> {
  const notable = /skipped|not claimed|aborted|interrupted|failed|error/i;
  const counts = new Map<string, number>();
  for (const f of files) {
    const text = await readFile(f, 'utf8').catch(() => '');
    const short = f.split('/').pop() ?? f;
    for (const line of text.split('\n')) {
      if (line.trim() === '' || line.trim() === 'ready') continue;
      let key: string;
      try {
        const rec = JSON.parse(line) as { level?: number; msg?: string; err?: unknown };
        const level = rec.level ?? 0;
        if (level < 40 && !notable.test(rec.msg ?? '')) continue;
        const err = rec.err === undefined ? '' : `: ${String(rec.err).slice(0, 120)}`;
        key = `${short} level ${level} "${rec.msg ?? ''}"${err}`;
      } catch {
        key = `${short} (not JSON) ${line.slice(0, 160)}`;
      }
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  }
  return [...counts.entries()].map(([k, n]) => `${n} x ${k}`);
}

async function runHz(
  hz: number,
  opts: FireLagOptions,
  dir: string,
  cleanup: Cleanup,
): Promise<{ results: Result[]; logs: string[]; rate: number }> {
  const redis = await startPrivateRedis({ hz });
  const releaseRedis = cleanup.defer(`redis hz ${hz}`, () => redis.stop());
  try {
    const token = randomBytes(12).toString('hex');
    const serverLog = join(dir, `hz${hz}-server.log`);
    const server = await startServer(
      loadConfig({
        REDIS_URL: redis.url,
        FLEETCMD_PREFIX: FLEET_PREFIX,
        FLEETCMD_API_TOKEN: token,
        FLEETCMD_HOST: '127.0.0.1',
        PORT: '0',
        FLEETCMD_MIN_INTERVAL_SECONDS: '1',
        FLEETCMD_SCHEDULER_CONCURRENCY: process.env.FLEETCMD_SCHEDULER_CONCURRENCY,
        FLEETCMD_DELIVERY_TIMEOUT_SECONDS: process.env.FLEETCMD_DELIVERY_TIMEOUT_SECONDS,
        LOG_LEVEL: 'info',
      }),
      pino(
        { name: 'fleetcmd-server', level: 'info' },
        pino.destination({ dest: serverLog, sync: true }),
      ),
    );
    const releaseServer = cleanup.defer(`server hz ${hz}`, () => server.close());
    const nodeIds = Array.from({ length: opts.agents }, (_, i) => `n${i + 1}`);
    const agents: ChildProcess[] = [];
    const agentLogs = nodeIds.map((n) => join(dir, `hz${hz}-agent-${n}.log`));
    const releaseAgents = cleanup.defer(`agents hz ${hz}`, () =>
      Promise.all(agents.map((a) => killGroup(a, 8_000))),
    );
    try {
      for (const [i, nodeId] of nodeIds.entries()) {
        agents.push(
          spawnLogged(
            [BIN, 'agent', '--node-id', nodeId],
            {
              REDIS_URL: redis.url,
              FLEETCMD_PREFIX: FLEET_PREFIX,
              FLEETCMD_AGENT_CONCURRENCY: String(opts.concurrency),
              FLEETCMD_AGENT_GRACE_SECONDS: '2',
              LOG_LEVEL: 'info',
              FLEETCMD_ALLOW_SHARED_CREDENTIALS: 'true',
            },
            agentLogs[i] as string,
          ),
        );
      }
      // Registered = in the server's node registry, which an agent joins by announcing itself
      // once its queue worker is ready.
      await waitRegistered(redis.url, FLEET_PREFIX, nodeIds, agents, agentLogs);
      const stack: Stack = {
        hz,
        tag: `hz${hz}`,
        redisUrl: redis.url,
        api: new ApiClient({ url: server.url ?? '', token }),
        nodeIds,
        dir,
        cleanup,
        serverLog,
        pids: () =>
          [process.pid, redis.process.pid, ...agents.map((a) => a.pid)].filter(
            (p): p is number => p !== undefined,
          ),
        watched: () => [
          { name: 'bench+server', pid: process.pid },
          ...(redis.process.pid === undefined ? [] : [{ name: 'redis', pid: redis.process.pid }]),
          ...agents.flatMap((a, i) =>
            a.pid === undefined ? [] : [{ name: `agent ${nodeIds[i]}`, pid: a.pid }],
          ),
        ],
      };
      const rate = await spawnRate(opts.stamp ?? 'date');
      const results: Result[] = [];
      const phases = { bullmq: runBullmq, 'bullmq+spawn': runBullmqSpawn, fleetcmd: runFleetcmd };
      const reps = new Map<Variant, number>();
      for (const variant of opts.variants ?? ALL_VARIANTS) {
        const run = phases[variant];
        // A variant may run more than once (phases alternated): each repetition its own files.
        const rep = (reps.get(variant) ?? 0) + 1;
        reps.set(variant, rep);
        stack.tag = rep === 1 ? `hz${hz}` : `hz${hz}-r${rep}`;
        const started = Date.now();
        const r = await run(stack, opts);
        console.error(
          `hz ${hz} ${r.variant}: n ${r.lags.length} in ${((Date.now() - started) / 1000).toFixed(0)} s`,
        );
        results.push(r);
      }
      await releaseAgents();
      await releaseServer();
      const logs = await logSummary([
        serverLog,
        ...agentLogs,
        ...[...Array(reps.get('bullmq+spawn') ?? 0).keys()].flatMap((r) =>
          nodeIds.map((_, i) =>
            join(dir, `hz${hz}${r === 0 ? '' : `-r${r + 1}`}-bullmq-spawn-lag-${i}.log`),
          ),
        ),
      ]);
      return { results, logs, rate };
    } finally {
      await releaseAgents();
      await releaseServer();
    }
  } finally {
    await releaseRedis();
  }
}

/** Prints the phases' tables (lags, ratios, hops, notes) for a human. */
export function report(all: Result[], opts: FireLagOptions): void {
  const rows = all.map((r) => {
    const sorted = [...r.lags].sort((a, b) => a - b);
    const mean = sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length);
    return [
      r.variant,
      String(r.hz),
      String(sorted.length),
      ms(pct(sorted, 0.5)),
      ms(pct(sorted, 0.99)),
      ms(sorted[sorted.length - 1] ?? NaN),
      ms(mean),
      String(r.duplicates),
      String(r.missed),
      r.skipped === undefined ? '-' : String(r.skipped),
      r.cpu.busyPct.toFixed(0),
      r.cpu.otherPct.toFixed(0),
    ];
  });
  console.log(
    `\nFire lag (ms), intended fire time -> start; ${opts.schedules} every-second schedules, ` +
      `${opts.seconds} s window, ${opts.agents} agents/workers, concurrency ${opts.concurrency}, ` +
      `expected n = ${opts.schedules * opts.seconds} per row; start = ${
        opts.stamp === 'first'
          ? "the command's first instruction (its shell reads the kernel's clock, no fork)"
          : "the command's $(date +%s%N) (a fork and exec of date first)"
      }\n`,
  );
  console.log(
    table(
      [
        'variant',
        'hz',
        'n',
        'p50',
        'p99',
        'max',
        'mean',
        'dup',
        'missed',
        'skipped',
        'cpu%',
        'other%',
      ],
      rows,
    ),
  );

  console.log(
    'cpu%: whole machine busy during the window (% of all cores); other%: of that, processes ' +
      'outside this benchmark (this box is shared; a high other% inflates every lag).',
  );
  console.log('\nRatio fleetcmd / baseline');
  const ratioRows: string[][] = [];
  for (const hz of opts.hzList) {
    const fleet = all.find((r) => r.hz === hz && r.variant === 'fleetcmd');
    const sortedFleet = [...(fleet?.lags ?? [])].sort((a, b) => a - b);
    for (const base of all.filter((r) => r.hz === hz && r.variant !== 'fleetcmd')) {
      const sorted = [...base.lags].sort((a, b) => a - b);
      const ratio = (p: number) => `${(pct(sortedFleet, p) / pct(sorted, p)).toFixed(2)}x`;
      ratioRows.push([`fleetcmd / ${base.variant}`, String(hz), ratio(0.5), ratio(0.99)]);
    }
  }
  console.log(table(['', 'hz', 'p50', 'p99'], ratioRows));

  console.log('\nHops (ms; BullMQ `active` events, stamped by Redis)');
  const hopRows: string[][] = [];
  for (const r of all) {
    for (const h of r.hops) {
      const sorted = [...h.values].sort((a, b) => a - b);
      hopRows.push([
        `${r.variant}: ${h.name}`,
        String(r.hz),
        String(sorted.length),
        ms(pct(sorted, 0.5)),
        ms(pct(sorted, 0.99)),
        ms(sorted[sorted.length - 1] ?? NaN),
      ]);
    }
  }
  console.log(table(['hop', 'hz', 'n', 'p50', 'p99', 'max'], hopRows));
  for (const r of all)
    for (const n of r.notes) console.log(`note (${r.variant}, hz ${r.hz}): ${n}`);
}

/** What runFireLag measured: every phase's result, and per hz the spawn ceiling and log summary. */
export interface FireLagRun {
  results: Result[];
  /** Spawns/s of this process just before each hz's phases (same command, 16 in flight). */
  spawnRates: { hz: number; perSecond: number }[];
}

/**
 * Runs the phases of `opts` per hz and returns their results; releases everything it started,
 * also on failure and on SIGINT/SIGTERM. Progress and log summaries go to stderr.
 */
export async function runFireLag(opts: FireLagOptions): Promise<FireLagRun> {
  if (opts.stamp === 'first' && !(await canStampFirst())) {
    throw new Error(`--stamp first: ${TIMER_LIST} is not readable here (root only)`);
  }
  if (opts.variants?.includes('fleetcmd') ?? true) await ensureBuilt();
  const dir = await mkdtemp(join(tmpdir(), 'fire-lag-'));
  const cleanup = new Cleanup();
  // Registered first, so released last.
  cleanup.defer('temp dir', async () => {
    if (opts.keep) console.error(`kept ${dir}`);
    else await rm(dir, { recursive: true, force: true });
  });
  const offSignals = cleanup.onSignals();
  console.error(
    `fire-lag: ${opts.seconds} s x ${opts.schedules} schedules, hz ${opts.hzList.join(',')}, ` +
      `${opts.agents} agents, concurrency ${opts.concurrency}; files in ${dir}`,
  );
  const results: Result[] = [];
  const spawnRates: FireLagRun['spawnRates'] = [];
  try {
    for (const hz of opts.hzList) {
      const { results: phases, logs, rate } = await runHz(hz, opts, dir, cleanup);
      results.push(...phases);
      spawnRates.push({ hz, perSecond: rate });
      console.error(
        logs.length === 0
          ? `hz ${hz}: no warnings or errors in server, agent and worker logs`
          : `hz ${hz} logs:\n  ${logs.join('\n  ')}`,
      );
    }
    return { results, spawnRates };
  } finally {
    await cleanup.runAll();
    offSignals();
  }
}

/** The spawn-ceiling line that goes under report()'s tables. */
export function spawnCeiling(run: FireLagRun): string {
  return (
    `spawn ceiling of this process just before the phases (same command, 16 in flight): ` +
    run.spawnRates.map((r) => `hz ${r.hz}: ${r.perSecond.toFixed(0)}/s`).join(', ')
  );
}

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  const run = await runFireLag(opts);
  report(run.results, opts);
  console.log(spawnCeiling(run));
}

// ---------------------------------------------------------------------------------------------
// bullmq+spawn worker child: consumes one queue, runs the command for every job.

function runShell(command: string, env: Record<string, string>): Promise<void> {
  return new Promise((resolve) => {
    const child = spawn('/bin/sh', ['-c', command], {
      env: { PATH: '/usr/local/bin:/usr/bin:/bin', ...env },
      stdio: ['ignore', 'pipe', 'ignore'],
      detached: true,
    });
    child.stdout.resume();
    child.once('error', () => resolve());
    child.once('close', () => resolve());
  });
}

async function workerMain(spec: WorkerSpec): Promise<void> {
  const connection = new Redis(spec.redisUrl, { maxRetriesPerRequest: null });
  const command = commandFor(spec.file, spec.stamp);
  const worker = new Worker(
    spec.queue,
    async (job: Job) => {
      const dueMs = dueOf(job);
      if (dueMs === undefined) return;
      await runShell(command, {
        FLEETCMD_INVOKE_ID: job.repeatJobKey ?? '',
        FLEETCMD_FIRE_ID: `f${dueMs}`,
      });
    },
    { connection, prefix: spec.prefix, concurrency: spec.concurrency },
  );
  worker.on('error', (err) => console.error(JSON.stringify({ level: 50, msg: err.message })));
  await worker.waitUntilReady();
  console.log('ready');
  // Until the parent says stop, or dies (its end of stdin closes).
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', () => resolve());
    process.stdin.once('close', () => resolve());
    process.stdin.resume();
  });
  await settleWithin(worker.close(), 5_000);
  connection.disconnect();
  process.stdin.destroy();
}

// Imported (bench/schedule.ts drives the phases), this module only exports; run, it is the CLI,
// or a bullmq+spawn worker child when WORKER_ENV is set.
const workerSpec = process.env[WORKER_ENV];
if (workerSpec !== undefined) await workerMain(JSON.parse(workerSpec) as WorkerSpec);
else if (process.argv[1] !== undefined && resolve(process.argv[1]) === SELF) await main();
