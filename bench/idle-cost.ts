/**
 * What an idle node costs its Redis: commands a second per idle agent (simulated agents, the
 * real Agent with its real BullMQ worker, heartbeat and stalled checks; no command runs) at
 * the default 10 s heartbeat, Redis CPU and memory per 1,000 of them, and the connections one
 * real agent process holds. The server runs too (in this process), so its upkeep's share of
 * the idle traffic is counted in the per-agent figure. Private redis-server, or with --cluster a
 * private local 3-master Redis Cluster (figures summed over the masters, and each master's share).
 *
 *   node --import tsx bench/idle-cost.ts [--quick] [--cluster] [--nodes 1000] [--seconds 120]
 */
import type { Redis } from 'ioredis';
import { infoField } from '../src/store/redis-facts.js';
import { option, publish, quick, reportOnly, score, table, wholeNumber } from './harness.js';
import { eachMaster, startBenchStack, waitRegistered } from './local-stack.js';
import { Cleanup, killGroup, sleep, spawnLogged } from './processes.js';
import { SIM_AGENTS_NOTE, startSimAgents } from './sim-agents.js';

const NODES = wholeNumber('--nodes', option('--nodes') ?? (quick ? '200' : '1000'), 1);
/** Long enough to hold several of each periodic call (60 s queue look, 300 s stalled check). */
const WINDOW_S = wholeNumber('--seconds', option('--seconds') ?? (quick ? '30' : '300'), 10);
const PROCESSES = 4;
const ON_CLUSTER = process.argv.includes('--cluster');
/** After start-up, one heartbeat and a bit: registration traffic is over. */
const SETTLE_MS = 12_000;

interface RedisSample {
  commands: number;
  cpuSeconds: number;
  clients: number;
  memory: number;
  byCommand: Map<string, number>;
}

function field(info: string, name: string): number {
  return Number(infoField(info, name) ?? NaN);
}

async function sampleOne(redis: Redis): Promise<RedisSample> {
  const info = await redis.info('all');
  const byCommand = new Map<string, number>();
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    byCommand.set(m[1] ?? '', Number(m[2]));
  }
  return {
    commands: field(info, 'total_commands_processed'),
    cpuSeconds: field(info, 'used_cpu_sys') + field(info, 'used_cpu_user'),
    clients: field(info, 'connected_clients'),
    memory: field(info, 'used_memory'),
    byCommand,
  };
}

/** Each master's sample (one for a single Redis). */
const sampleEach = (masters: Redis[]) => Promise.all(masters.map(sampleOne));

/** The sum of the masters' samples. */
async function sample(masters: Redis[]): Promise<RedisSample & { each: RedisSample[] }> {
  const each = await sampleEach(masters);
  const byCommand = new Map<string, number>();
  for (const s of each)
    for (const [k, v] of s.byCommand) byCommand.set(k, (byCommand.get(k) ?? 0) + v);
  const sum = (f: (s: RedisSample) => number) => each.reduce((t, s) => t + f(s), 0);
  return {
    commands: sum((s) => s.commands),
    cpuSeconds: sum((s) => s.cpuSeconds),
    clients: sum((s) => s.clients),
    memory: sum((s) => s.memory),
    byCommand,
    each,
  };
}

const cleanup = new Cleanup();
cleanup.onSignals();
const stack = await startBenchStack('idl', [], { cleanup, cluster: ON_CLUSTER });
const probe = await eachMaster(stack.target);
cleanup.defer('probe', async () => probe.forEach((p) => p.disconnect()));
try {
  // One real agent process: the connections it holds.
  const before = await sample(probe);
  const env = {
    ...stack.env,
    FLEETCMD_PREFIX: stack.prefix,
    LOG_LEVEL: 'warn',
    FLEETCMD_ALLOW_SHARED_CREDENTIALS: 'true',
  };
  const real = spawnLogged(['bin/fleetcmd.js', 'agent', '--node-id', 'real-1'], env, '/dev/null');
  const stopReal = cleanup.defer('real agent', () => killGroup(real, 5_000));
  await waitRegistered(stack.target, stack.prefix, ['real-1'], [real]);
  await sleep(1_000);
  const connections = (await sample(probe)).clients - before.clients;
  await stopReal();

  const nodeIds = Array.from({ length: NODES }, (_, i) => `idle-${String(i).padStart(5, '0')}`);
  const memory0 = (await sample(probe)).memory;
  const sims = await startSimAgents(stack.target, stack.prefix, nodeIds, PROCESSES);
  cleanup.defer('simulated agents', () => sims.stop());
  await sleep(SETTLE_MS);
  const a = await sample(probe);
  await sleep(WINDOW_S * 1000);
  const b = await sample(probe);

  // The probe's own INFO calls are two commands a master: not the agents'.
  const perAgent = (b.commands - a.commands - 2 * probe.length) / WINDOW_S / NODES;
  const shares = b.each.map((m, i) => m.commands - (a.each[i]?.commands ?? 0) - 2);
  const cpuPer1000 = (((b.cpuSeconds - a.cpuSeconds) / WINDOW_S) * 100 * 1000) / NODES;
  const memoryPerAgent = (b.memory - memory0) / NODES;
  const rows = [...b.byCommand]
    .map(([name, calls]) => [name, (calls - (a.byCommand.get(name) ?? 0)) / WINDOW_S / NODES])
    .filter(([, rate]) => Number(rate) > 0)
    .sort((x, y) => Number(y[1]) - Number(x[1]))
    .map(([name, rate]) => [String(name), Number(rate).toFixed(4)]);
  console.log(`idle traffic by command, per agent per second (${NODES} agents, ${WINDOW_S} s):`);
  console.log(table(['command', 'calls/s'], rows));
  const where = ON_CLUSTER ? 'local 3-master Redis Cluster, summed over masters' : 'one Redis';
  const note = `${NODES} ${SIM_AGENTS_NOTE}; ${WINDOW_S} s window; server's upkeep included; ${where}`;
  if (ON_CLUSTER) {
    console.log(
      `each master's commands over the window: ${shares.join(', ')} (busiest / least busy ${(
        Math.max(...shares) / Math.max(1, Math.min(...shares))
      ).toFixed(2)})`,
    );
  }
  const on = ON_CLUSTER ? ' (cluster)' : '';
  await publish([
    score(
      `idle: Redis commands/s per idle agent (default 10 s heartbeat)${on}`,
      'cmd/s',
      Math.round(perAgent * 1000) / 1000,
      0.5,
      'lower',
      1,
      `${note}; target ≤ 0.5`,
    ),
    score(
      `idle: Redis connections held by one agent process${on}`,
      'connections',
      connections,
      3,
      'lower',
      1,
      'a real agent (bin/fleetcmd.js agent); target ≤ 3',
    ),
    reportOnly(
      `idle: Redis CPU per 1,000 idle agents${on}`,
      '% of a core',
      Math.round(cpuPer1000 * 100) / 100,
      note,
    ),
    reportOnly(
      `idle: Redis memory per registered idle agent${on}`,
      'bytes',
      Math.round(memoryPerAgent),
      `${NODES} simulated agents: registration, queue and worker keys`,
    ),
    ...(ON_CLUSTER
      ? [
          score(
            'idle: busiest / least busy master, commands (cluster)',
            'ratio',
            Math.round((Math.max(...shares) / Math.max(1, Math.min(...shares))) * 100) / 100,
            1.5,
            'lower',
            1,
            `${note}; target ≤ 1.5`,
          ),
        ]
      : []),
  ]);
} finally {
  await cleanup.runAll();
}
