/**
 * A fleet on one Redis: 10,000 simulated nodes (the real Agent with its BullMQ worker, heartbeat
 * and scripts; a run spawns nothing and lasts RUN_MS) in 10 processes, tagged in two racks,
 * against a private redis-server and the server in this process.
 *
 * What it measures, in order:
 * - start-up: the time to start every agent, then until DescribeNodes shows all of them Online
 *   (target: within one heartbeat, 10 s, of the last start);
 * - idle: over the watch window, nodes seen offline (DescribeNodes Online=false, every 10 s) and
 *   NodeOffline events (both must be 0), Redis commands a second per node, Redis CPU per 1,000
 *   nodes, Redis memory per node;
 * - a tag-targeted RunCommand to one rack (half the fleet): the answer's p99 (target <= 100 ms)
 *   and the time until DescribeInvocations shows every node Success;
 * - the same with MaxConcurrency "10%": the most runs in flight at once (target <= 10%), beside
 *   the same count without it;
 * - RunCommand to the whole fleet by tag key: answer and time to all Success, then
 *   SummarizeInvocation's p99 over the finished fleet (target <= 20 ms).
 * Actions the server does not have yet are reported as skipped, not scored.
 *
 * With --cluster the Redis is a private local 3-master Redis Cluster (started as the test harness
 * starts one): the Redis figures are summed over the masters, and each master's share of the
 * commands over the idle window and over the tag-targeted RunCommands is reported, with the
 * busiest / least busy ratio (target <= 1.5). Rows are named `fleet-cluster: ...` then.
 *
 *   node --import tsx bench/fleet-10k.ts [--quick] [--cluster] [--nodes 10000] [--watch 300] [--processes 10]
 */
import type { Redis } from 'ioredis';
import { infoField } from '../src/store/redis-facts.js';
import { makeRedis, type RedisClient } from '../src/store/redis.js';
import {
  type BenchResult,
  mustBeZero,
  option,
  percentile,
  publish,
  quick,
  reportOnly,
  score,
  wholeNumber,
} from './harness.js';
import { eachMaster, startBenchStack } from './local-stack.js';
import { Cleanup, sleep } from './processes.js';
import { SIM_AGENTS_NOTE, startSimAgents } from './sim-agents.js';

const NODES = wholeNumber('--nodes', option('--nodes') ?? (quick ? '1000' : '10000'), 2);
const WATCH_S = wholeNumber('--watch', option('--watch') ?? (quick ? '20' : '300'), 10);
const PROCESSES = wholeNumber('--processes', option('--processes') ?? (quick ? '4' : '10'), 1);
const HEARTBEAT_MS = 10_000;
/** How long each simulated run lasts, so that runs overlap and MaxConcurrency has work to do. */
const RUN_MS = 300;
/** Tag-targeted calls timed (by nearest rank, the p99 of 30 is still the slowest of them). */
const TAG_CALLS = quick ? 3 : 30;
const SUMMARY_CALLS = quick ? 20 : 100;
const HALF = Math.floor(NODES / 2);
const ON_CLUSTER = process.argv.includes('--cluster');
/** The rows' name prefix. */
const F = ON_CLUSTER ? 'fleet-cluster' : 'fleet';

const cleanup = new Cleanup();
cleanup.onSignals();
const stack = await startBenchStack('flt', [], { cleanup, cluster: ON_CLUSTER });
/** Each master (the one Redis): INFO and CONFIG are per server. */
const masters: Redis[] = await eachMaster(stack.target);
cleanup.defer('probe', async () => masters.forEach((m) => m.disconnect()));
/** For keys: a Cluster client on the cluster. */
const probe: RedisClient = ON_CLUSTER
  ? makeRedis(stack.target, 'worker', 'bench-probe')
  : (masters[0] as Redis);
if (ON_CLUSTER) cleanup.defer('cluster probe', async () => probe.disconnect());
const inFlightKey = `${stack.prefix}:bench:in-flight`;
const results: BenchResult[] = [];
const fleet = `${NODES} nodes in ${PROCESSES} processes (${SIM_AGENTS_NOTE}), ${
  ON_CLUSTER ? 'a private local 3-master Redis Cluster' : 'one private redis-server'
}`;

interface ApiAnswer {
  Code?: string;
  Message?: string;
  [k: string]: unknown;
}

async function call(action: string, body: unknown): Promise<ApiAnswer> {
  return (await stack.call(action, body)) as ApiAnswer;
}

async function timedCall(action: string, body: unknown): Promise<{ ms: number; a: ApiAnswer }> {
  const t0 = performance.now();
  const a = await call(action, body);
  return { ms: performance.now() - t0, a };
}

/** Node ids DescribeNodes lists with `filter`, all pages (or the first only). */
async function listNodes(filter: object, firstPageOnly = false): Promise<string[]> {
  const ids: string[] = [];
  let token: string | undefined;
  do {
    const a = await call('DescribeNodes', {
      ...filter,
      MaxResults: 50,
      ...(token ? { NextToken: token } : {}),
    });
    if (a.Code) throw new Error(`DescribeNodes: ${a.Code} ${a.Message}`);
    const page = (a.Nodes as { Node: { NodeId: string }[] }).Node;
    ids.push(...page.map((n) => n.NodeId));
    token = (a.NextToken as string | undefined) || undefined;
  } while (token && !firstPageOnly);
  return ids;
}

/** INFO of every master, summed; `each`: each master's total_commands_processed. */
async function redisSample() {
  const infos = await Promise.all(masters.map((m) => m.info('all')));
  const each = infos.map((info) => Number(infoField(info, 'total_commands_processed') ?? NaN));
  const n = (name: string) =>
    infos.reduce((t, info) => t + Number(infoField(info, name) ?? NaN), 0);
  return {
    commands: n('total_commands_processed'),
    cpu: n('used_cpu_sys') + n('used_cpu_user'),
    memory: n('used_memory'),
    clients: n('connected_clients'),
    each,
  };
}

/**
 * On a cluster: each master's share of the commands between two samples, and the busiest /
 * least busy ratio against 1.5 (the probe's own INFO, one a master a sample, taken off).
 */
function masterShares(
  what: string,
  a: { each: number[] },
  b: { each: number[] },
  note: string,
): BenchResult[] {
  if (!ON_CLUSTER) return [];
  const counts = b.each.map((v, i) => v - (a.each[i] ?? 0) - 1);
  const total = counts.reduce((t, v) => t + v, 0);
  const shares = counts.map((c) => `${Math.round((c / Math.max(1, total)) * 1000) / 10}%`);
  const ratio = Math.max(...counts) / Math.max(1, Math.min(...counts));
  console.error(`masters' commands ${what}: ${counts.join(', ')} (${shares.join(' / ')})`);
  return [
    score(
      `${F}: busiest / least busy master, commands ${what}`,
      'ratio',
      Math.round(ratio * 100) / 100,
      1.5,
      'lower',
      1,
      `target <= 1.5; masters' shares ${shares.join(' / ')} of ${total} commands; ${note}`,
    ),
  ];
}

/** Submits `body` to RunCommand; undefined when the server refuses one of its fields (400). */
async function run(body: object): Promise<{ ms: number; invokeId: string } | { refused: string }> {
  const { ms, a } = await timedCall('RunCommand', { CommandContent: 'true', ...body });
  if (typeof a.InvokeId === 'string') return { ms, invokeId: a.InvokeId };
  return { refused: `${a.Code}: ${a.Message}` };
}

/** From now until DescribeInvocations shows the invocation Success (every node), in ms. */
async function untilSuccess(invokeId: string): Promise<number> {
  const t0 = performance.now();
  const bound = t0 + 600_000;
  for (;;) {
    const a = await call('DescribeInvocations', { InvokeId: invokeId });
    const inv = (a.Invocations as { Invocation: { InvocationStatus: string }[] } | undefined)
      ?.Invocation[0];
    if (inv?.InvocationStatus === 'Success') return performance.now() - t0;
    if (inv && !['Pending', 'Running'].includes(inv.InvocationStatus)) {
      throw new Error(`${invokeId} ended ${inv.InvocationStatus}`);
    }
    if (performance.now() > bound) throw new Error(`${invokeId} not Success within 600 s`);
    await sleep(250);
  }
}

const r1 = (v: number) => Math.round(v * 10) / 10;

/** A p99 of call times in ms against an absolute limit. */
function p99Within(name: string, ms: number[], limitMs: number, note: string): BenchResult {
  const sorted = [...ms].sort((x, y) => x - y);
  const p99 = r1(percentile(sorted, 0.99));
  return score(
    name,
    'ms',
    p99,
    limitMs,
    'lower',
    1,
    `absolute target: p99 <= ${limitMs} ms; ${note}`,
  );
}

try {
  // Up to three connections a node and the server's own; Redis caps maxclients by its open-file
  // limit, and simulated agents hold about one a node, so fall back to that.
  for (const m of masters) {
    await m
      .config('SET', 'maxclients', String(NODES * 3 + 500))
      .catch(() => m.config('SET', 'maxclients', String(NODES + 2_000)));
  }
  const nodeIds = Array.from({ length: NODES }, (_, i) => `fl-${String(i).padStart(6, '0')}`);
  const rackOf = (id: string) => (Number(id.slice(3)) < HALF ? 'r1' : 'r2');
  const memory0 = (await redisSample()).memory;
  const t0 = performance.now();
  const sims = await startSimAgents(stack.target, stack.prefix, nodeIds, PROCESSES, {
    runMs: RUN_MS,
    inFlightKey,
    tagsOf: (id) => [{ key: 'rack', value: rackOf(id) }],
  });
  cleanup.defer('simulated agents', () => sims.stop());
  const startMs = performance.now() - t0;
  const started = performance.now();
  let online = 0;
  for (;;) {
    // One query for stragglers first; the full count only once none is left.
    if ((await listNodes({ Online: false }, true)).length === 0) {
      online = (await listNodes({ Online: true })).length;
      if (online >= NODES) break;
    }
    if (performance.now() - started > 120_000) break;
    await sleep(500);
  }
  const onlineMs = performance.now() - started;
  results.push(
    reportOnly(`${F}: start every agent`, 'ms', Math.round(startMs), fleet),
    score(
      `${F}: all Online after the last start`,
      'ms',
      Math.round(onlineMs),
      HEARTBEAT_MS,
      'lower',
      1,
      `absolute target: within one heartbeat (${HEARTBEAT_MS / 1000} s); ${online} of ${NODES} Online (DescribeNodes)`,
    ),
  );

  // Idle: nobody falsely offline, and what idling costs Redis.
  await sleep(HEARTBEAT_MS + 2_000);
  const windowStart = Date.now();
  const a = await redisSample();
  let offlineSeen = 0;
  for (let waited = 0; waited < WATCH_S * 1000; waited += 10_000) {
    await sleep(Math.min(10_000, WATCH_S * 1000 - waited));
    offlineSeen = Math.max(offlineSeen, (await listNodes({ Online: false }, true)).length);
  }
  const b = await redisSample();
  const events = await probe.xrange(stack.prefix + ':{global}:events', String(windowStart), '+');
  const offlineEvents = events.filter(([, f]) => f[f.indexOf('type') + 1] === 'NodeOffline');
  const seconds = WATCH_S;
  const idle = `over ${seconds} s idle (DescribeNodes polled every 10 s included); ${fleet}`;
  results.push(
    mustBeZero(`${F}: nodes seen offline while idle`, offlineSeen, idle),
    mustBeZero(`${F}: NodeOffline events while idle`, offlineEvents.length, idle),
    reportOnly(
      `${F}: idle Redis commands/s per node`,
      'cmd/s',
      r1(((b.commands - a.commands) / seconds / NODES) * 1000) / 1000,
      idle,
    ),
    reportOnly(
      `${F}: idle Redis CPU per 1,000 nodes`,
      '% core',
      r1((((b.cpu - a.cpu) / seconds) * 100 * 1000) / NODES),
      idle,
    ),
    reportOnly(
      `${F}: Redis memory per node`,
      'bytes',
      Math.round((b.memory - memory0) / NODES),
      `used_memory growth after start-up, ${fleet}`,
    ),
    reportOnly(`${F}: Redis connections`, 'count', b.clients, fleet),
    ...masterShares('while idle', a, b, idle),
  );

  // A tag-targeted RunCommand to one rack, repeated.
  const answers: number[] = [];
  const toSuccess: number[] = [];
  await sims.peakInFlight();
  const beforeTag = await redisSample();
  for (let i = 0; i < TAG_CALLS; i++) {
    const r = await run({ ResourceTag: [{ Key: 'rack', Value: 'r1' }] });
    if ('refused' in r) throw new Error(`tag-targeted RunCommand refused: ${r.refused}`);
    answers.push(r.ms);
    toSuccess.push(await untilSuccess(r.invokeId));
  }
  const afterTag = await redisSample();
  const peakFree = await sims.peakInFlight();
  toSuccess.sort((x, y) => x - y);
  const tagNote = `${TAG_CALLS} calls, ResourceTag rack=r1 (${HALF} nodes), runs last ${RUN_MS} ms; ${fleet}`;
  results.push(
    p99Within(`${F}: tag RunCommand to ${HALF} answer p99`, answers, 100, tagNote),
    reportOnly(
      `${F}: tag RunCommand to ${HALF}, all Success via API, p50`,
      'ms',
      Math.round(percentile(toSuccess, 0.5)),
      `answer to DescribeInvocations Success (polled every 250 ms); ${tagNote}`,
    ),
    reportOnly(`${F}: runs in flight at once without MaxConcurrency`, 'count', peakFree, tagNote),
    ...masterShares('over the tag RunCommands', beforeTag, afterTag, tagNote),
  );

  // The same with MaxConcurrency "10%".
  const limited = await run({
    ResourceTag: [{ Key: 'rack', Value: 'r1' }],
    MaxConcurrency: '10%',
  });
  if ('refused' in limited) {
    console.error(`MaxConcurrency skipped: ${limited.refused}`);
  } else {
    const ms = await untilSuccess(limited.invokeId);
    const peak = await sims.peakInFlight();
    const allowed = Math.ceil(HALF / 10);
    results.push(
      score(
        `${F}: runs in flight at once with MaxConcurrency 10% of ${HALF}`,
        'count',
        peak,
        allowed,
        'lower',
        1,
        `at most ${allowed}; every run's INCR of a shared counter at its start; ${tagNote}`,
      ),
      reportOnly(`${F}: MaxConcurrency 10% to all Success`, 'ms', Math.round(ms), tagNote),
    );
  }

  // The whole fleet by tag key, then the summary of the finished fleet.
  const all = await run({ ResourceTag: [{ Key: 'rack' }] });
  if ('refused' in all) throw new Error(`fleet-wide RunCommand refused: ${all.refused}`);
  const allMs = await untilSuccess(all.invokeId);
  const allNote = `ResourceTag key rack (all ${NODES} nodes); ${fleet}`;
  results.push(
    reportOnly(`${F}: RunCommand to all ${NODES} answer`, 'ms', r1(all.ms), allNote),
    reportOnly(
      `${F}: RunCommand to all ${NODES}, all Success via API`,
      'ms',
      Math.round(allMs),
      allNote,
    ),
  );
  const summary: number[] = [];
  for (let i = 0; i < SUMMARY_CALLS; i++) {
    const { ms, a: s } = await timedCall('SummarizeInvocation', { InvokeId: all.invokeId });
    if (s.Code) {
      console.error(`SummarizeInvocation skipped: ${s.Code} ${s.Message}`);
      break;
    }
    summary.push(ms);
  }
  if (summary.length === SUMMARY_CALLS) {
    results.push(
      p99Within(
        `${F}: SummarizeInvocation p99 at ${NODES} finished nodes`,
        summary,
        20,
        `${SUMMARY_CALLS} calls; ${allNote}`,
      ),
    );
  }
  await publish(results);
} finally {
  await cleanup.runAll();
}
