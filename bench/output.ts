/**
 * Output capture: one command printing 1 GiB (`--quick`: 256 MiB) of zeros through a real agent
 * process (`node bin/fleetcmd.js agent` on dist/), timed from RunCommand until Success is
 * visible in DescribeInvocations; bytes/s = size / that time. The agent's VmRSS is sampled every
 * 100 ms during the run; growth = the highest sample less the RSS just before RunCommand.
 * Output + Dropped must add up to the size exactly (checked through the API).
 *
 * Baseline: the same command through a bare child_process.spawn in this process, its stdout read
 * and thrown away. Rounds alternate baseline, ours (7 pairs); each score is the median of the
 * pairs' ratios. Scored: CPU per GiB captured, the agent's (and its spawner's) own CPU time from
 * /proc/<pid>/stat over the run against this process's CPU (process.cpuUsage) while the bare
 * spawn reads the same bytes: at most 1.3x. MiB/s swings with the machine's load (0.52-1.66x the
 * same day), so the throughput and its ratio are report rows.
 *
 *   node --import tsx bench/output.ts [--quick] [--agent-prof DIR]
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  mustBeZero,
  option,
  publish,
  quick,
  reportOnly,
  score,
  scorePairs,
  table,
  type RoundPair,
} from './harness.js';
import { startBenchStack, type BenchStack } from './local-stack.js';
import { Cleanup, processTicks, rssBytes, sleep } from './processes.js';

const SIZE = quick ? 128 * 2 ** 20 : 2 ** 30;
const COMMAND = `head -c ${SIZE} /dev/zero`;
const PAIRS = 7;
/** Linux's clock ticks per second (/proc/<pid>/stat CPU times). */
const TICKS_PER_SECOND = 100;
const GiB = 2 ** 30;
/** Most agent CPU per GiB captured, as a multiple of the bare reader's. */
const CPU_LIMIT = 1.3;
/** With --agent-prof DIR, the agent runs under `--cpu-prof --cpu-prof-dir=DIR`. */
const PROF = option('--agent-prof');
const RSS_LIMIT_MIB = 64;
const MiB = 2 ** 20;

interface OursRound {
  seconds: number;
  /** The agent's and its spawner's own CPU seconds over the run (not the command's). */
  cpuSeconds: number;
  rssBeforeMiB: number;
  rssGrowthMiB: number;
  /** |bytes(Output) + Dropped - SIZE| through the API. */
  accountingError: number;
  status: string;
}

type Described = {
  Invocations?: {
    Invocation: {
      InvocationStatus: string;
      InvokeNodes: { InvokeNode: { Output?: string; Dropped?: number }[] };
    }[];
  };
};

const FINAL = new Set(['Success', 'Failed', 'PartialFailed', 'Stopped']);

async function roundOurs(stack: BenchStack, pid: number): Promise<OursRound> {
  const before = await rssBytes(pid);
  let peak = before;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      peak = Math.max(peak, await rssBytes(pid));
      await sleep(100);
    }
  })();
  const cpu0 = (await processTicks(pid)).own;
  const t0 = performance.now();
  const r = await stack.call('RunCommand', { NodeIdList: ['o1'], CommandContent: COMMAND });
  if (typeof r.InvokeId !== 'string') throw new Error(`RunCommand: ${JSON.stringify(r)}`);
  let status = '';
  while (!FINAL.has(status)) {
    const d = (await stack.call('DescribeInvocations', { InvokeId: r.InvokeId })) as Described;
    status = d.Invocations?.Invocation[0]?.InvocationStatus ?? '';
    // Every 25 ms: a tighter poll takes CPU from the agent on a two-core box.
    if (!FINAL.has(status)) await sleep(25);
  }
  const seconds = (performance.now() - t0) / 1000;
  const cpuSeconds = ((await processTicks(pid)).own - cpu0) / TICKS_PER_SECOND;
  sampling = false;
  await sampler;
  const d = (await stack.call('DescribeInvocations', {
    InvokeId: r.InvokeId,
    IncludeOutput: true,
  })) as Described;
  const node = d.Invocations?.Invocation[0]?.InvokeNodes.InvokeNode[0];
  const kept = Buffer.from(node?.Output ?? '', 'base64').length;
  return {
    seconds,
    cpuSeconds,
    rssBeforeMiB: before / MiB,
    rssGrowthMiB: (peak - before) / MiB,
    accountingError: Math.abs(kept + (node?.Dropped ?? 0) - SIZE),
    status,
  };
}

/**
 * A bare spawn of the command, its stdout read and dropped: seconds until it finished, and this
 * process's CPU seconds meanwhile (the reader's; not the command's).
 */
function roundBaseline(): Promise<{ seconds: number; cpuSeconds: number }> {
  return new Promise((resolve, reject) => {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const child = spawn('/bin/sh', ['-c', COMMAND], { stdio: ['ignore', 'pipe', 'ignore'] });
    let bytes = 0;
    child.stdout.on('data', (chunk: Buffer) => (bytes += chunk.length));
    child.once('error', reject);
    child.once('close', () => {
      if (bytes !== SIZE) reject(new Error(`baseline read ${bytes} bytes, expected ${SIZE}`));
      else {
        const seconds = (performance.now() - t0) / 1000;
        const cpu = process.cpuUsage(cpu0);
        resolve({ seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6 });
      }
    });
  });
}

async function main(): Promise<void> {
  const cleanup = new Cleanup();
  cleanup.onSignals();
  const dir = await mkdtemp(join(tmpdir(), 'bench-output-'));
  cleanup.defer('temp dir', () => rm(dir, { recursive: true, force: true }));
  try {
    const stack = await startBenchStack('out', ['o1'], {
      agents: 'dist',
      agentEnv: { LOG_LEVEL: 'info' },
      agentNodeArgs: PROF ? ['--cpu-prof', `--cpu-prof-dir=${PROF}`] : [],
      logDir: dir,
      cleanup,
    });
    const pid = stack.agents[0]?.pid;
    if (pid === undefined) throw new Error('agent did not start');
    // Warm-up: one small run each way.
    await stack.call('RunCommand', { NodeIdList: ['o1'], CommandContent: 'true' });
    await roundBaseline();
    await sleep(500);

    const pairs: RoundPair[] = [];
    const cpuPairs: RoundPair[] = [];
    const ours: OursRound[] = [];
    const rows: string[][] = [];
    for (let i = 0; i < PAIRS; i++) {
      const { seconds: b, cpuSeconds: bCpu } = await roundBaseline();
      const o = await roundOurs(stack, pid);
      ours.push(o);
      pairs.push({ ours: SIZE / MiB / o.seconds, baseline: SIZE / MiB / b });
      cpuPairs.push({ ours: o.cpuSeconds / (SIZE / GiB), baseline: bCpu / (SIZE / GiB) });
      rows.push([
        String(i + 1),
        (SIZE / MiB / b).toFixed(0),
        (SIZE / MiB / o.seconds).toFixed(0),
        (b / o.seconds).toFixed(3),
        (bCpu / (SIZE / GiB)).toFixed(2),
        (o.cpuSeconds / (SIZE / GiB)).toFixed(2),
        o.rssBeforeMiB.toFixed(1),
        o.rssGrowthMiB.toFixed(1),
        o.status,
      ]);
    }
    console.log(`\n${SIZE / MiB} MiB of output per run\n`);
    console.log(
      table(
        [
          'pair',
          'baseline MiB/s',
          'ours MiB/s',
          'ratio',
          'baseline CPU s/GiB',
          'ours CPU s/GiB',
          'RSS before',
          'RSS growth',
          'status',
        ],
        rows,
      ),
    );
    const growth = Math.max(...ours.map((o) => o.rssGrowthMiB));
    const median = (xs: number[]) =>
      [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)] ?? 0;
    const r2 = (v: number) => Math.round(v * 100) / 100;
    const throughput = scorePairs('output: capture throughput', 'MiB/s', pairs, 'higher', 1);
    await publish([
      scorePairs(
        'output: agent CPU per GiB captured',
        's/GiB',
        cpuPairs,
        'lower',
        Math.round((1 / CPU_LIMIT) * 1000) / 1000,
        `\`${COMMAND}\` through one agent: the agent's and its spawner's own CPU (/proc stat) ` +
          `from RunCommand to Success visible; baseline: this process's CPU (process.cpuUsage) ` +
          `reading the same command's stdout from a bare child_process.spawn; at most ` +
          `${CPU_LIMIT}x; median of ${PAIRS} interleaved pairs`,
      ),
      reportOnly(
        'output: capture throughput',
        'MiB/s',
        r2(median(pairs.map((p) => p.ours))),
        `median of ${PAIRS} runs, RunCommand to Success visible; swings with the machine's load`,
      ),
      reportOnly(
        'output: bare spawn reader throughput',
        'MiB/s',
        r2(median(pairs.map((p) => p.baseline))),
        `median of the ${PAIRS} baseline rounds`,
      ),
      reportOnly(
        'output: capture throughput / bare spawn reader',
        'ratio',
        throughput.ratio ?? 0,
        `median ratio of the ${PAIRS} interleaved pairs (was scored against 0.8; now CPU per GiB is)`,
      ),
      score(
        'output: agent RSS growth',
        'MiB',
        growth,
        RSS_LIMIT_MIB,
        'lower',
        1,
        `highest VmRSS sample (every 100 ms) less VmRSS before the run; at most ${RSS_LIMIT_MIB} MiB`,
      ),
      mustBeZero(
        'output: Output + Dropped != bytes printed',
        ours.reduce((n, o) => n + o.accountingError + (o.status === 'Success' ? 0 : 1), 0),
      ),
    ]);
  } finally {
    await cleanup.runAll();
  }
}

await main();
