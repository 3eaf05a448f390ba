/**
 * Where a run's CPU goes: the throughput benchmark's work (Once runs of `true`, one node each,
 * round-robin over 4 production agents with concurrency 8, 8 concurrent RunCommand callers,
 * completion polled through DescribeInvocations) without its baseline, reporting CPU ms per run
 * for each process (this one holds the server and the API client; the agents' own; the shells
 * they waited for; redis-server) and Redis commands per run from INFO commandstats.
 * Not scored: it is the profile the throughput benchmark's figure is explained with.
 *
 *   node --import tsx bench/cost.ts [--runs 1000] [--warmup 50] [--agent-prof DIR]
 *
 * The processes are measured after `--warmup` runs: with the default 50 their code is still
 * mostly unoptimised (V8 tiers it up over the first few thousand runs), and the CPU per run of
 * the agents and the server falls by about half by then; `--warmup 3000` shows the steady state.
 *
 * With --agent-prof, each agent runs with `--cpu-prof --cpu-prof-dir=DIR`; run this process
 * itself under `node --cpu-prof` for the server's profile.
 */
import { loadavg } from 'node:os';
import { Redis } from 'ioredis';
import { option, table, wholeNumber } from './harness.js';
import { startBenchStack, type BenchStack } from './local-stack.js';
import { Cleanup, processTicks, sleep, spawnerTicks } from './processes.js';

const RUNS = wholeNumber('--runs', option('--runs') ?? '1000', 1);
const WARMUP = wholeNumber('--warmup', option('--warmup') ?? '50', 1);
const PROF = option('--agent-prof');
const NODES = ['t1', 't2', 't3', 't4'];
const SUBMITTERS = 8;

/** CPU ms of a process itself and of the children it has waited for. */
async function cpuMs(pid: number): Promise<{ self: number; children: number }> {
  const t = await processTicks(pid);
  return { self: t.own * 10, children: t.children * 10 };
}

async function round(stack: BenchStack, runs: number): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: SUBMITTERS }, async () => {
      while (next < runs) {
        const node = NODES[next++ % NODES.length];
        const r = await stack.call('RunCommand', { NodeIdList: [node], CommandContent: 'true' });
        if (typeof r.InvokeId !== 'string') throw new Error(`RunCommand: ${JSON.stringify(r)}`);
      }
    }),
  );
  for (;;) {
    const d = (await stack.call('DescribeInvocations', {
      InvokeStatus: 'Running',
      MaxResults: 1,
    })) as {
      Invocations?: { Invocation: unknown[] };
    };
    if (!d.Invocations) throw new Error(`DescribeInvocations: ${JSON.stringify(d)}`);
    if (d.Invocations.Invocation.length === 0) return;
    await sleep(20);
  }
}

const cleanup = new Cleanup();
cleanup.onSignals();
try {
  const stack = await startBenchStack('cost', NODES, {
    agents: 'dist',
    agentEnv: { FLEETCMD_AGENT_CONCURRENCY: '8', LOG_LEVEL: 'info' },
    agentNodeArgs: PROF ? ['--cpu-prof', `--cpu-prof-dir=${PROF}`] : [],
    cleanup,
  });
  const redis = new Redis(stack.redisUrl);
  cleanup.defer('probe connection', async () => redis.disconnect());
  await round(stack, WARMUP);
  await redis.config('RESETSTAT');
  const [redisPid, ...agentPids] = stack.pids();
  const pids = [process.pid, redisPid ?? 0, ...agentPids];
  const spawnersMs = async () => {
    const ticks = await Promise.all(agentPids.map(spawnerTicks));
    return ticks.reduce((sum, t) => sum + t.own * 10, 0);
  };
  const before = await Promise.all(pids.map(cpuMs));
  const spawnersBefore = await spawnersMs();
  const t0 = performance.now();
  await round(stack, RUNS);
  const seconds = (performance.now() - t0) / 1000;
  const after = await Promise.all(pids.map(cpuMs));
  const spawners = (await spawnersMs()) - spawnersBefore;
  const d = after.map((a, i) => ({
    self: a.self - (before[i]?.self ?? 0),
    children: a.children - (before[i]?.children ?? 0),
  }));
  const per = (ms: number) => (ms / RUNS).toFixed(2);
  const agentsSelf = d.slice(2).reduce((s, x) => s + x.self, 0);
  const shells = d.slice(2).reduce((s, x) => s + x.children, 0);
  const total = (d[0]?.self ?? 0) + (d[1]?.self ?? 0) + agentsSelf + shells;
  const load = loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
  console.log(
    `\n${RUNS} runs after ${WARMUP} in ${seconds.toFixed(2)} s: ${(RUNS / seconds).toFixed(1)} runs/s (load average ${load})\n`,
  );
  console.log(
    table(
      ['process', 'cpu ms/run'],
      [
        ['server + API client (this process)', per(d[0]?.self ?? 0)],
        ['agents (4), with their spawners', per(agentsSelf)],
        ['  of which the spawners', per(spawners)],
        ['shells the agents (their spawners) ran', per(shells)],
        ['redis-server', per(d[1]?.self ?? 0)],
        ['all', per(total)],
      ],
    ),
  );
  const stats = (await redis.info('commandstats'))
    .split('\n')
    .map((l) => /^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ name: m[1] ?? '', calls: Number(m[2]), usec: Number(m[3]) }))
    .filter((s) => s.name !== 'info' && s.name !== 'config')
    .sort((a, b) => b.usec - a.usec);
  const calls = stats.reduce((s, x) => s + x.calls, 0);
  console.log(`\nRedis: ${(calls / RUNS).toFixed(1)} commands/run\n`);
  console.log(
    table(
      ['command', 'calls/run', 'usec/run'],
      stats
        .slice(0, 20)
        .map((s) => [s.name, (s.calls / RUNS).toFixed(2), (s.usec / RUNS).toFixed(0)]),
    ),
  );
} finally {
  await cleanup.runAll();
}
