/**
 * How long Node's synchronous `spawn()` call takes as the parent's resident memory grows.
 * The call forks the parent and waits for the child's exec, blocking the event loop, so an
 * agent of ~100 MiB pays more per run than a small process would. Not scored: it is the
 * measurement behind the idea of starting commands from a small spawner process.
 *
 *   node --import tsx bench/spawn-rss.ts [--spawns 400] [--steps 0,32,64,128]
 *
 * For each step, that many MiB of Buffers are allocated and touched, then `--spawns`
 * sequential `spawn('/bin/sh', ['-c', 'true'])` calls are timed (the call alone, not the
 * child's life), with the stdio the agent uses (a pipe for stdout, detached).
 */
import { spawn } from 'node:child_process';
import { formatNumber, option, percentile, table, wholeNumber } from './harness.js';

const SPAWNS = wholeNumber('--spawns', option('--spawns') ?? '400', 1);
const STEPS = (option('--steps') ?? '0,32,64,128')
  .split(',')
  .map((mib) => wholeNumber('--steps', mib, 0));

async function timeSpawns(): Promise<number[]> {
  const ms: number[] = [];
  for (let i = 0; i < SPAWNS; i++) {
    const start = process.hrtime.bigint();
    const child = spawn('/bin/sh', ['-c', 'true'], {
      stdio: ['ignore', 'pipe', 'ignore'],
      detached: true,
    });
    ms.push(Number(process.hrtime.bigint() - start) / 1e6);
    child.stdout?.resume();
    await new Promise((resolve) => child.once('close', resolve));
  }
  return ms.sort((a, b) => a - b);
}

const ballast: Buffer[] = [];
const rows: string[][] = [];
for (const mib of STEPS) {
  while (ballast.length < mib) ballast.push(Buffer.alloc(1 << 20, 1));
  const ms = await timeSpawns();
  const mean = ms.reduce((a, b) => a + b, 0) / ms.length;
  const rss = process.memoryUsage().rss / 2 ** 20;
  rows.push([
    String(mib),
    formatNumber(rss),
    formatNumber(mean),
    formatNumber(percentile(ms, 0.5)),
  ]);
}
console.log(`\n${SPAWNS} spawn() calls per step\n`);
console.log(table(['ballast MiB', 'rss MiB', 'mean ms', 'p50 ms'], rows));
