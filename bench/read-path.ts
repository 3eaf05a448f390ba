/**
 * Read path: DescribeInvocations against a large store. Two prefixes on one private
 * redis-server, each with its own server: SMALL invocations under one, LARGE under the other,
 * both seeded first. Invocations are seeded through the real store code, many at a time on one
 * pipelining connection: InvocationStore.create and publish (hash, index), then each run record
 * through the real scripts (RunStore.create, then the agent's claim and finish with 2 KiB of
 * typical text output, stored compressed as an agent stores it), spread round-robin over NODES
 * registered nodes, one node each.
 *
 * Measured (p99 over CALLS calls each, through the HTTP API): (a) one InvokeId with
 * IncludeOutput; (b) the first page of 50 filtered by NodeId. The calls alternate between the two
 * prefixes in one loop (which goes first alternates too), so both p99s and their ratio come from
 * the same window of a shared machine. Targets: p99 <= 20 ms each (absolute, at LARGE), and p99
 * at LARGE <= 1.5 x p99 at SMALL (flat as data grows). A NodeId page must also be exact: as long
 * as the node has 50 invocations, a page holds 50.
 *
 *   node --import tsx bench/read-path.ts [--quick]
 */
import { Redis } from 'ioredis';
import { outputCorpus } from './output-corpus.js';
import { benchInvocation } from './bench-invocation.js';
import type { Invocation } from '../src/domain/invocation.js';
import { AgentStore } from '../src/store/agent-store.js';
import { InvocationStore } from '../src/store/invocation-store.js';
import { Keys } from '../src/store/keys.js';
import { RunStore } from '../src/store/run-store.js';
import { mustBeZero, percentile, publish, quick, reportOnly, score } from './harness.js';
import { startBenchStack, type BenchStack } from './local-stack.js';

const SMALL = quick ? 2_000 : 10_000;
const LARGE = quick ? 20_000 : 100_000;
const NODES = 100;
const CALLS = quick ? 100 : 200;
/** Invocations seeded at once (each a chain of a few commands). */
const SEED_BATCH = 1_000;
const PAGE = 50;

const small = await startBenchStack('rps', []);
const large = await startBenchStack('rpl', [], { redisOf: small }).catch(async (err: unknown) => {
  await small.close();
  throw err;
});
const redis = new Redis(small.redis.url, {
  enableAutoPipelining: true,
  maxRetriesPerRequest: null,
});
const nodeIds = Array.from({ length: NODES }, (_, i) => `rp-${String(i).padStart(3, '0')}`);

/** One prefix: its stack, its stores and the invocations seeded under it. */
interface Side {
  stack: BenchStack;
  invocations: InvocationStore;
  runs: RunStore;
  agents: AgentStore[];
  seeded: string[];
}

function side(stack: BenchStack): Side {
  const keys = new Keys(stack.prefix);
  return {
    stack,
    invocations: new InvocationStore(redis, keys),
    runs: new RunStore(redis, keys),
    agents: nodeIds.map((id) => new AgentStore(redis, keys, id)),
    seeded: [],
  };
}

function invocation(nodeId: string): Invocation {
  return benchInvocation([nodeId], 'echo hello from $(hostname)');
}

/** A few different outputs of 2 KiB of typical text (bench/output-corpus.ts). */
const OUTPUTS = Array.from({ length: 16 }, (_, seed) => outputCorpus(2048, seed));

/** One finished Once invocation on one node, written the way the API, scheduler and agent do. */
async function seedOne(at: Side, i: number): Promise<void> {
  const { invocations, runs } = at;
  const agent = at.agents[i % NODES] as AgentStore;
  const inv = invocation(agent.nodeId);
  const { createdMs } = await invocations.create(inv);
  await invocations.publish(inv, createdMs, Date.now(), false);
  await runs.create(agent.nodeId, inv.invokeId, createdMs);
  await invocations.markDispatched(inv.invokeId, Date.now());
  await agent.claim(inv.invokeId, '', 'bench-agent', inv.invokeId, 'bench-boot');
  await agent.finish(inv.invokeId, 'bench-agent', {
    status: 'Success',
    exitCode: 0,
    errorCode: '',
    errorInfo: '',
    output: OUTPUTS[i % OUTPUTS.length] as Buffer,
    dropped: 0,
    started: true,
  });
  at.seeded.push(inv.invokeId);
}

async function seedTo(at: Side, total: number): Promise<number> {
  const t0 = performance.now();
  await Promise.all(at.agents.map((a) => a.register(0, 'bench-boot', { hostname: a.nodeId })));
  for (let i = at.seeded.length; i < total; i += SEED_BATCH) {
    const n = Math.min(SEED_BATCH, total - i);
    await Promise.all(Array.from({ length: n }, (_, k) => seedOne(at, i + k)));
  }
  return performance.now() - t0;
}

const pick = <T>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)] as T;

async function timed(
  stack: BenchStack,
  body: Record<string, unknown>,
): Promise<{ ms: number; count: number }> {
  const t0 = performance.now();
  const r = (await stack.call('DescribeInvocations', body)) as {
    Invocations?: { Invocation: unknown[] };
  };
  const ms = performance.now() - t0;
  if (!r.Invocations) throw new Error(`DescribeInvocations failed: ${JSON.stringify(r)}`);
  return { ms, count: r.Invocations.Invocation.length };
}

interface Figures {
  byId: number;
  byNode: number;
  shortPages: number;
}

/** One prefix's samples of the shared window. */
interface Samples {
  byId: number[];
  byNode: number[];
  shortPages: number;
}

/** One call of each kind against one prefix, its times added to `into`. */
async function sample(at: Side, into: Samples): Promise<void> {
  const perNode = Math.floor(at.seeded.length / NODES);
  into.byId.push((await timed(at.stack, { InvokeId: pick(at.seeded), IncludeOutput: true })).ms);
  const page = await timed(at.stack, { NodeId: pick(nodeIds), MaxResults: PAGE });
  into.byNode.push(page.ms);
  if (page.count < Math.min(PAGE, perNode)) into.shortPages++;
}

/** Both prefixes in one loop, alternating (and alternating which goes first). */
async function measure(a: Side, b: Side): Promise<[Figures, Figures]> {
  const samples: [Samples, Samples] = [
    { byId: [], byNode: [], shortPages: 0 },
    { byId: [], byNode: [], shortPages: 0 },
  ];
  const scratch: Samples = { byId: [], byNode: [], shortPages: 0 };
  // Warm-up (connections, JIT) before timing.
  for (let i = 0; i < 10; i++) {
    await sample(a, scratch);
    await sample(b, scratch);
  }
  for (let i = 0; i < CALLS; i++) {
    const order: [Side, Samples][] = [
      [a, samples[0]],
      [b, samples[1]],
    ];
    if (i % 2 === 1) order.reverse();
    for (const [at, into] of order) await sample(at, into);
  }
  const p99 = (xs: number[]) =>
    Math.round(
      percentile(
        [...xs].sort((x, y) => x - y),
        0.99,
      ) * 100,
    ) / 100;
  const figures = (s: Samples): Figures => ({
    byId: p99(s.byId),
    byNode: p99(s.byNode),
    shortPages: s.shortPages,
  });
  return [figures(samples[0]), figures(samples[1])];
}

const atSmall = side(small);
const atLarge = side(large);
try {
  const seedMs = (await seedTo(atSmall, SMALL)) + (await seedTo(atLarge, LARGE));
  const [fSmall, fLarge] = await measure(atSmall, atLarge);
  const k = (n: number) => `${n / 1000}k`;
  const note = `p99 over ${CALLS} calls; ${NODES} nodes, each invocation on one of them; calls alternate with ${k(SMALL)} in one loop`;
  /** A measure's absolute score at LARGE, its growth from SMALL and its p99 at SMALL. */
  const both = (label: string, at: (f: Figures) => number) => [
    score(
      `read-path: ${label} p99 at ${k(LARGE)}`,
      'ms',
      at(fLarge),
      20,
      'lower',
      1,
      `absolute target: p99 <= 20 ms; ${note}`,
    ),
    score(
      `read-path: ${label} p99 at ${k(LARGE)} vs 1.5x at ${k(SMALL)}`,
      'ms',
      at(fLarge),
      Math.round(1.5 * at(fSmall) * 100) / 100,
      'lower',
      1,
      `baseline is 1.5 x the p99 at ${k(SMALL)} (${at(fSmall)} ms), same window; ${k(LARGE)}/${k(SMALL)} p99 = ${(at(fLarge) / at(fSmall)).toFixed(2)}`,
    ),
    reportOnly(
      `read-path: ${label} p99 at ${k(SMALL)}`,
      'ms',
      at(fSmall),
      `the same window as ${k(LARGE)}`,
    ),
  ];
  await publish([
    ...both('InvokeId+IncludeOutput', (f) => f.byId),
    ...both(`NodeId page of ${PAGE}`, (f) => f.byNode),
    mustBeZero(
      `read-path: NodeId pages short of ${PAGE}`,
      fSmall.shortPages + fLarge.shortPages,
      'pages holding fewer than 50 while the node has 50 or more (both sizes)',
    ),
    reportOnly(
      `read-path: seeding, per 1,000 invocations`,
      'ms',
      Math.round(seedMs / ((SMALL + LARGE) / 1000)),
      'through the real store code and scripts, 1,000 at a time',
    ),
  ]);
} finally {
  redis.disconnect();
  await large.close();
  await small.close();
}
