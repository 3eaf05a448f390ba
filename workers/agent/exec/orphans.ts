import { readdir, readFile } from 'node:fs/promises';

/** How many times killRun looks again after a pass that found something. */
const KILL_PASSES = 5;

/**
 * The process group id in the text of /proc/<pid>/stat, NaN when it has none. The command name
 * comes in parentheses and may itself hold spaces and ')', so the fields are counted from the
 * last ')': state, ppid, pgrp, ...
 */
export function processGroupOf(stat: string): number {
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
}

/** The entries of /proc that are processes (their names are pids). */
export function isPidEntry(name: string): boolean {
  return /^\d+$/.test(name);
}

/** An environment entry `name=value` as /proc/<pid>/environ holds it (NUL-terminated). */
export function environMarker(name: string, value: string): Buffer {
  return Buffer.from(`${name}=${value}\0`);
}

/**
 * Kills every process carrying FLEETCMD_RUN_TOKEN=<token> (a run's processes, wherever they
 * are now), pass after pass until a pass finds none (a busy group may fork meanwhile; at most
 * 5 passes). Returns how many were killed.
 */
export async function killRun(token: string): Promise<number> {
  const marker = environMarker('FLEETCMD_RUN_TOKEN', token);
  let killed = 0;
  for (let pass = 0; pass < KILL_PASSES; pass++) {
    const found = await killMarked(marker);
    killed += found;
    if (found === 0) break;
  }
  return killed;
}

/**
 * Kills what is left of a run whose agent died: every process in process group `pgid` that
 * carries FLEETCMD_INVOKE_ID=<invokeId> in its environment (so a recycled group id never hits
 * an unrelated process). Returns how many were killed.
 */
export function killOrphans(pgid: number, invokeId: string): Promise<number> {
  return killMarked(environMarker('FLEETCMD_INVOKE_ID', invokeId), pgid);
}

/** SIGKILL to each process whose environment holds `marker` (and in group `pgid`, if given). */
async function killMarked(marker: Buffer, pgid?: number): Promise<number> {
  let killed = 0;
  for (const name of await readdir('/proc').catch(() => [] as string[])) {
    if (!isPidEntry(name)) continue;
    // An agent (re)started from inside a run carries that run's marks: never itself or its
    // parent.
    const pid = Number(name);
    if (pid === process.pid || pid === process.ppid) continue;
    try {
      if (pgid !== undefined) {
        const stat = await readFile(`/proc/${name}/stat`, 'utf8');
        if (processGroupOf(stat) !== pgid) continue;
      }
      if (!(await readFile(`/proc/${name}/environ`)).includes(marker)) continue;
      process.kill(pid, 'SIGKILL');
      killed++;
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
  return killed;
}
