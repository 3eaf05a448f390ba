/**
 * Processes a benchmark starts and must not leave behind: last-in-first-out cleanup (also on
 * SIGINT/SIGTERM), child processes in their own process groups, and what /proc says about them
 * (CPU time, RSS). The box is shared, so windows report how busy it was and how much of that was
 * other people's processes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { settleWithin } from '../src/shared/settle.js';

/** The repository root (children run there, so `bin/` and `dist/` resolve). */
export const REPO = fileURLToPath(new URL('..', import.meta.url));

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms)));

/** Resources released last-in-first-out, also on failure and on SIGINT/SIGTERM. */
export class Cleanup {
  private readonly steps: { name: string; fn: () => Promise<unknown>; done: boolean }[] = [];

  /** Registers a step; the returned function runs it now (once) and drops it from the stack. */
  defer(name: string, fn: () => Promise<unknown>): () => Promise<void> {
    const step = { name, fn, done: false };
    this.steps.push(step);
    return async () => {
      if (step.done) return;
      step.done = true;
      this.steps.splice(this.steps.indexOf(step), 1);
      await Cleanup.run(step);
    };
  }

  async runAll(): Promise<void> {
    for (let step = this.steps.pop(); step; step = this.steps.pop()) {
      if (step.done) continue;
      step.done = true;
      await Cleanup.run(step);
    }
  }

  /** On SIGINT or SIGTERM: runs every step, then exits 130. */
  onSignals(): () => void {
    const onSignal = (sig: NodeJS.Signals) => {
      console.error(`${sig}: cleaning up`);
      void this.runAll().then(() => process.exit(130));
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    return () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    };
  }

  private static async run(step: { name: string; fn: () => Promise<unknown> }): Promise<void> {
    await settleWithin(
      step.fn().catch((err: unknown) => console.error(`cleanup ${step.name}: ${String(err)}`)),
      20_000,
    );
  }
}

export function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** SIGTERM to the child's process group, SIGKILL after `graceMs`. */
export async function killGroup(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.pid === undefined || exited(child)) return;
  const gone = new Promise<void>((r) => child.once('exit', () => r()));
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(-(child.pid as number), sig);
    } catch {
      // Already gone.
    }
  };
  signal('SIGTERM');
  await settleWithin(gone, graceMs);
  if (!exited(child)) {
    signal('SIGKILL');
    await settleWithin(gone, 2_000);
  }
}

/**
 * `node <args>` in the repository, in its own process group, stdout and stderr appended to
 * `logFile`. stdin is a pipe, so a bench child can notice (stdin closes) when this process dies.
 */
export function spawnLogged(
  args: string[],
  env: Record<string, string>,
  logFile: string,
): ChildProcess {
  const fd = openSync(logFile, 'a');
  try {
    return spawn(process.execPath, args, {
      cwd: REPO,
      env: { ...process.env, ...env },
      stdio: ['pipe', fd, fd],
      detached: true,
    });
  } finally {
    closeSync(fd);
  }
}

/**
 * `node <args>` with this process's stdout and stderr, answering its exit code (null when a
 * signal ended it). Past `timeoutMs` it is sent SIGTERM, which makes a benchmark stop what it
 * started (Cleanup.onSignals), and SIGKILL `graceMs` later if it is still there; a line on
 * stderr says so, and `timedOut` is true.
 */
export function runBounded(
  label: string,
  args: string[],
  env: Record<string, string>,
  timeoutMs: number,
  graceMs: number,
): Promise<{ code: number | null; timedOut: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      cwd: REPO,
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, ...env },
    });
    let timedOut = false;
    let kill: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      console.error(
        `\n== ${label} did not finish within ${timeoutMs / 1000} s: SIGTERM (SIGKILL after ${graceMs / 1000} s)`,
      );
      child.kill('SIGTERM');
      kill = setTimeout(() => child.kill('SIGKILL'), graceMs);
    }, timeoutMs);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      clearTimeout(kill);
      resolve({ code, timedOut });
    });
  });
}

export async function tail(file: string, lines = 5): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

/** A process's resident set (VmRSS) in bytes; 0 once it is gone. */
export async function rssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024;
}

export interface CpuSample {
  busy: number;
  total: number;
  ours: number;
}

export interface CpuShare {
  /** Whole machine busy over the window, % of all cores. */
  busyPct: number;
  /** Busy with processes outside this benchmark, % of all cores. */
  otherPct: number;
}

/**
 * CPU ticks (1/100 s on Linux) of a process itself and of its waited-for children; 0 once gone.
 * An agent's spawner (workers/agent/spawner.ts) counts as the agent itself, and the commands the
 * spawner waited for as the agent's children: the agent forks it, and waits for it only at exit.
 */
export async function processTicks(pid: number): Promise<{ own: number; children: number }> {
  const t = await ownTicks(pid);
  const s = await spawnerTicks(pid);
  return { own: t.own + s.own, children: t.children + s.children };
}

/** CPU ticks of the live spawner(s) `pid` forked, themselves and the commands they waited for. */
export async function spawnerTicks(pid: number): Promise<{ own: number; children: number }> {
  const t = { own: 0, children: 0 };
  for (const child of await spawnerPids(pid)) {
    const s = await ownTicks(child);
    t.own += s.own;
    t.children += s.children;
  }
  return t;
}

async function ownTicks(pid: number): Promise<{ own: number; children: number }> {
  const text = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  // Fields after the command name: utime, stime, cutime, cstime are the 12th-15th.
  const f = text
    .slice(text.lastIndexOf(')') + 2)
    .split(' ')
    .map(Number);
  return { own: (f[11] || 0) + (f[12] || 0), children: (f[13] || 0) + (f[14] || 0) };
}

/** The live spawners (workers/agent/spawner-main.ts) among `pid`'s children. */
export async function spawnerPids(pid: number): Promise<number[]> {
  const found: number[] = [];
  for (const child of await childPids(pid)) {
    const cmdline = await readFile(`/proc/${child}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes('spawner-main')) found.push(child);
  }
  return found;
}

/** The live children of `pid`, from /proc (every thread's list). */
async function childPids(pid: number): Promise<number[]> {
  const tasks = await readdir(`/proc/${pid}/task`).catch(() => [] as string[]);
  const lists = await Promise.all(
    tasks.map((t) => readFile(`/proc/${pid}/task/${t}/children`, 'utf8').catch(() => '')),
  );
  return lists.flatMap((l) => l.split(' ').filter(Boolean).map(Number));
}

/** Machine-wide CPU ticks, and those of `pids` and their waited-for children. */
export async function cpuSample(pids: readonly number[]): Promise<CpuSample> {
  const stat = await readFile('/proc/stat', 'utf8').catch(() => '');
  const f = (stat.split('\n')[0] ?? '').trim().split(/\s+/).slice(1, 9).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  const idle = (f[3] ?? 0) + (f[4] ?? 0);
  let ours = 0;
  for (const pid of pids) {
    const t = await processTicks(pid);
    ours += t.own + t.children;
  }
  return { busy: total - idle, total, ours };
}

export function cpuShare(a: CpuSample, b: CpuSample): CpuShare {
  const total = Math.max(1, b.total - a.total);
  const busy = b.busy - a.busy;
  return {
    busyPct: (100 * busy) / total,
    otherPct: (100 * Math.max(0, busy - (b.ours - a.ours))) / total,
  };
}
