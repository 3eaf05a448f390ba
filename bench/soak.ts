/**
 * Soak (not in CI): 20 every-second Period invocations on 4 agents for `--minutes` (default 30).
 * A private redis-server, one server and 4 agents, all started as production starts them
 * (`node bin/fleetcmd.js`, compiled code: built first when stale). Every `--sample-seconds`
 * (default 10) it reads the RSS of the server and of each agent from /proc and Redis's
 * used_memory, then reports the least-squares slope of each (MiB per hour) after the warm-up
 * (the first fifth of the run, at least 2 minutes when the run is long enough).
 *
 * Retention is short so that it works during the run, not after it: each node keeps the last
 * FLEETCMD_HISTORY_RUNS=20 runs of a Period invocation, none older than
 * FLEETCMD_HISTORY_SECONDS=60, and finished invocations live FLEETCMD_RETENTION_SECONDS=120.
 * Once the history is full, Redis's memory should stop growing: a slope near 0 is the pass.
 *
 *   npm run soak [-- --minutes 30] [--sample-seconds 10]
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { freePort, startPrivateRedis } from '../src/dev/private-redis.js';
import { ensureBuilt, waitRegistered } from './local-stack.js';
import {
  Cleanup,
  cpuSample,
  cpuShare,
  exited,
  killGroup,
  rssBytes,
  sleep,
  spawnLogged,
  tail,
} from './processes.js';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '30' },
    'sample-seconds': { type: 'string', default: '10' },
  },
});
const minutes = Number(values.minutes);
const sampleSeconds = Number(values['sample-seconds']);
if (!(minutes > 0) || !(sampleSeconds > 0)) {
  throw new Error('--minutes and --sample-seconds must be positive numbers');
}

const NODES = ['s1', 's2', 's3', 's4'];
const INVOCATIONS = 20;
const MiB = 1024 * 1024;

interface Sample {
  tSeconds: number;
  serverMiB: number;
  agentMiB: number[];
  redisMiB: number;
}

/** Least-squares slope of y over x. */
function slope(xs: readonly number[], ys: readonly number[]): number {
  const n = xs.length;
  if (n < 2) return 0;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    const dx = (xs[i] ?? 0) - mx;
    num += dx * ((ys[i] ?? 0) - my);
    den += dx * dx;
  }
  return den === 0 ? 0 : num / den;
}

const cleanup = new Cleanup();
cleanup.onSignals();
try {
  await ensureBuilt();
  const logDir = await mkdtemp(join(tmpdir(), 'fleetcmd-soak-'));
  const redis = await startPrivateRedis();
  cleanup.defer('redis', () => redis.stop());
  const probe = new Redis(redis.url, { maxRetriesPerRequest: 2 });
  cleanup.defer('probe', async () => probe.disconnect());
  const port = await freePort();
  const token = 'soak-token';
  const env = {
    REDIS_URL: redis.url,
    FLEETCMD_PREFIX: 'soak',
    FLEETCMD_API_TOKEN: token,
    FLEETCMD_MIN_INTERVAL_SECONDS: '1',
    FLEETCMD_RETENTION_SECONDS: '120',
    FLEETCMD_HISTORY_RUNS: '20',
    FLEETCMD_HISTORY_SECONDS: '60',
    LOG_LEVEL: 'warn',
    FLEETCMD_ALLOW_SHARED_CREDENTIALS: 'true',
  };
  const serverLog = join(logDir, 'server.log');
  const server = spawnLogged(
    ['bin/fleetcmd.js', 'server', '--port', String(port), '--host', '127.0.0.1'],
    env,
    serverLog,
  );
  cleanup.defer('server', () => killGroup(server, 10_000));
  const agents = NODES.map((id) =>
    spawnLogged(['bin/fleetcmd.js', 'agent', '--node-id', id], env, join(logDir, `${id}.log`)),
  );
  cleanup.defer('agents', () => Promise.all(agents.map((a) => killGroup(a, 10_000))));
  await waitRegistered(
    redis.url,
    'soak',
    NODES,
    agents,
    NODES.map((id) => join(logDir, `${id}.log`)),
  );

  const url = `http://127.0.0.1:${port}`;
  const call = async (action: string, body: unknown) => {
    const res = await fetch(`${url}/v1/${action}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const json = (await res.json()) as Record<string, unknown>;
    if (res.status !== 200) throw new Error(`${action}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  };
  for (let deadline = Date.now() + 30_000; ;) {
    const ok = await fetch(`${url}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    if (Date.now() > deadline || exited(server)) {
      throw new Error(`server did not get ready:\n${await tail(serverLog)}`);
    }
    await sleep(100);
  }

  const invokeIds: string[] = [];
  for (let i = 0; i < INVOCATIONS; i++) {
    const r = await call('RunCommand', {
      NodeIdList: NODES,
      CommandContent: `echo soak ${i} $(date +%s%N)`,
      Frequency: 'rate(1s)',
      Name: `soak-${i}`,
    });
    invokeIds.push(r.InvokeId as string);
  }
  console.error(
    `soak: ${INVOCATIONS} Period invocations (rate(1s)) on ${NODES.length} agents for ` +
      `${minutes} min, sampling every ${sampleSeconds} s; logs in ${logDir}`,
  );

  const pids = [server.pid ?? 0, ...agents.map((a) => a.pid ?? 0)];
  const samples: Sample[] = [];
  const started = Date.now();
  const endAt = started + minutes * 60_000;
  const cpuStart = await cpuSample([...pids, redis.process.pid ?? 0]);
  while (Date.now() < endAt) {
    const dead = [server, ...agents].find(exited);
    if (dead) throw new Error(`a soak process exited (pid ${String(dead.pid)})`);
    const info = await probe.info('memory');
    const used = Number(/used_memory:(\d+)/.exec(info)?.[1] ?? 0);
    const [serverRss = 0, ...agentRss] = await Promise.all(pids.map(rssBytes));
    const s: Sample = {
      tSeconds: (Date.now() - started) / 1000,
      serverMiB: serverRss / MiB,
      agentMiB: agentRss.map((b) => b / MiB),
      redisMiB: used / MiB,
    };
    samples.push(s);
    console.error(
      `t=${s.tSeconds.toFixed(0)}s server ${s.serverMiB.toFixed(1)} MiB, agents ` +
        `${s.agentMiB.map((m) => m.toFixed(1)).join('/')} MiB, redis ${s.redisMiB.toFixed(2)} MiB`,
    );
    await sleep(Math.min(sampleSeconds * 1000, endAt - Date.now()));
  }
  const share = cpuShare(cpuStart, await cpuSample([...pids, redis.process.pid ?? 0]));

  // How many runs were done: every node's Repeats of every invocation.
  let runs = 0;
  for (const id of invokeIds) {
    const r = await call('DescribeInvocations', { InvokeId: id });
    const inv = (r.Invocations as { Invocation: { InvokeNodes: { InvokeNode: [] } }[] })
      .Invocation[0];
    for (const n of inv?.InvokeNodes.InvokeNode ?? []) runs += (n as { Repeats: number }).Repeats;
  }
  for (const id of invokeIds) await call('StopInvocation', { InvokeId: id });

  const warmupSeconds = Math.min(Math.max(120, (minutes * 60) / 5), (minutes * 60) / 2);
  const kept = samples.filter((s) => s.tSeconds >= warmupSeconds);
  const hours = kept.map((s) => s.tSeconds / 3600);
  const perHour = (ys: number[]) => slope(hours, ys);
  const last = samples[samples.length - 1];
  const report = {
    minutes,
    samples: samples.length,
    warmupSeconds,
    runs,
    cpuBusyPct: Math.round(share.busyPct),
    cpuOtherPct: Math.round(share.otherPct),
    serverSlopeMiBPerHour: perHour(kept.map((s) => s.serverMiB)),
    agentSlopeMiBPerHour: NODES.map((_, i) => perHour(kept.map((s) => s.agentMiB[i] ?? 0))),
    redisSlopeMiBPerHour: perHour(kept.map((s) => s.redisMiB)),
    serverMiB: last?.serverMiB,
    agentMiB: last?.agentMiB,
    redisMiBAtEnd: last?.redisMiB,
    redisMiBAfterWarmup: kept[0]?.redisMiB,
  };
  const r2 = (v: number | undefined) => (v === undefined ? 'n/a' : v.toFixed(2));
  console.log(`soak over ${minutes} min (${runs} runs; machine ${report.cpuBusyPct}% busy, ${report.cpuOtherPct}% of it others' processes)
  slope after ${warmupSeconds} s warm-up (MiB/hour):
    server ${r2(report.serverSlopeMiBPerHour)}
    agents ${report.agentSlopeMiBPerHour.map(r2).join(', ')}
    redis  ${r2(report.redisSlopeMiBPerHour)}
  at the end: server ${r2(last?.serverMiB)} MiB, agents ${(last?.agentMiB ?? []).map(r2).join('/')} MiB, redis used_memory ${r2(last?.redisMiB)} MiB (${r2(kept[0]?.redisMiB)} MiB after warm-up)`);
  console.log(JSON.stringify(report));
} finally {
  await cleanup.runAll();
}
