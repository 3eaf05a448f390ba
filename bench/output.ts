/**
 * Output capture: one command printing 1 GiB (`--quick`: 256 MiB) of zeros through a real agent
 * process (`node bin/fleetcmd.js agent` on dist/), timed from RunCommand until Success is
 * visible in DescribeInvocations; bytes/s = size / that time. The agent's VmRSS is sampled every
 * 100 ms during the run; growth = the highest sample less the RSS just before RunCommand.
 * Output + Dropped must add up to the size exactly (checked through the API).
 *
 * Baseline: the same command through a bare child_process.spawn in this process, its stdout read
 * and thrown away. Rounds alternate baseline, ours; the score is the median of the pairs' ratios.
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
  score,
  scorePairs,
  table,
  type RoundPair,
} from './harness.js';
import { startBenchStack, type BenchStack } from './local-stack.js';
import { Cleanup, rssBytes, sleep } from './processes.js';

const SIZE = quick ? 256 * 2 ** 20 : 2 ** 30;
const COMMAND = `head -c ${SIZE} /dev/zero`;
const PAIRS = 3;
/** With --agent-prof DIR, the agent runs under `--cpu-prof --cpu-prof-dir=DIR`. */
const PROF = option('--agent-prof');
const RSS_LIMIT_MIB = 64;
const MiB = 2 ** 20;

interface OursRound {
  seconds: number;
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
    rssBeforeMiB: before / MiB,
    rssGrowthMiB: (peak - before) / MiB,
    accountingError: Math.abs(kept + (node?.Dropped ?? 0) - SIZE),
    status,
  };
}

/** Seconds for a bare spawn of the command to finish, its stdout read and dropped. */
function roundBaseline(): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn('/bin/sh', ['-c', COMMAND], { stdio: ['ignore', 'pipe', 'ignore'] });
    let bytes = 0;
    child.stdout.on('data', (chunk: Buffer) => (bytes += chunk.length));
    child.once('error', reject);
    child.once('close', () => {
      if (bytes !== SIZE) reject(new Error(`baseline read ${bytes} bytes, expected ${SIZE}`));
      else resolve((performance.now() - t0) / 1000);
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
    const ours: OursRound[] = [];
    const rows: string[][] = [];
    for (let i = 0; i < PAIRS; i++) {
      const b = await roundBaseline();
      const o = await roundOurs(stack, pid);
      ours.push(o);
      pairs.push({ ours: SIZE / MiB / o.seconds, baseline: SIZE / MiB / b });
      rows.push([
        String(i + 1),
        (SIZE / MiB / b).toFixed(0),
        (SIZE / MiB / o.seconds).toFixed(0),
        (b / o.seconds).toFixed(3),
        o.rssBeforeMiB.toFixed(1),
        o.rssGrowthMiB.toFixed(1),
        o.status,
      ]);
    }
    console.log(`\n${SIZE / MiB} MiB of output per run\n`);
    console.log(
      table(
        ['pair', 'baseline MiB/s', 'ours MiB/s', 'ratio', 'RSS before', 'RSS growth', 'status'],
        rows,
      ),
    );
    const growth = Math.max(...ours.map((o) => o.rssGrowthMiB));
    await publish([
      scorePairs(
        'output: capture throughput',
        'MiB/s',
        pairs,
        'higher',
        0.8,
        `\`${COMMAND}\` through one agent, RunCommand to Success visible; baseline: ` +
          `child_process.spawn of the same command, stdout read and dropped; median of ` +
          `${PAIRS} interleaved pairs`,
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
