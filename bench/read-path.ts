/**
 * Read path: DescribeInvocations against a large store. Invocations are seeded through the real
 * store code, many at a time on one pipelining connection: InvocationStore.create and publish
 * (hash, index), then each run record through the real scripts (RunStore.create, then the
 * agent's claim and finish with a line of output), spread round-robin over NODES registered
 * nodes, one node each. The stack is measured at SMALL invocations, grown to LARGE, measured
 * again.
 *
 * Measured (p99 over CALLS calls each, through the HTTP API): (a) one InvokeId with
 * IncludeOutput; (b) the first page of 50 filtered by NodeId. Targets: p99 <= 20 ms each
 * (absolute, at LARGE), and p99 at LARGE <= 1.5 x p99 at SMALL (flat as data grows). A NodeId
 * page must also be exact: as long as the node has 50 invocations, a page holds 50.
 *
 *   node --import tsx bench/read-path.ts [--quick]
 */
import { Redis } from 'ioredis';
import { newId } from '../src/app/invocations.js';
import type { Invocation } from '../src/domain/invocation.js';
import { AgentStore } from '../src/store/agent-store.js';
import { InvocationStore } from '../src/store/invocation-store.js';
import { Keys } from '../src/store/keys.js';
import { RunStore } from '../src/store/run-store.js';
import { mustBeZero, percentile, publish, quick, reportOnly, score } from './harness.js';
import { startBenchStack } from './local-stack.js';

const SMALL = quick ? 2_000 : 10_000;
const LARGE = quick ? 20_000 : 100_000;
const NODES = 100;
const CALLS = quick ? 100 : 200;
/** Invocations seeded at once (each a chain of a few commands). */
const SEED_BATCH = 1_000;
const PAGE = 50;

const stack = await startBenchStack('rp', []);
const redis = new Redis(stack.redisUrl, { enableAutoPipelining: true, maxRetriesPerRequest: null });
const keys = new Keys(stack.prefix);
const invocations = new InvocationStore(redis, keys);
const runs = new RunStore(redis, keys);
const nodeIds = Array.from({ length: NODES }, (_, i) => `rp-${String(i).padStart(3, '0')}`);
const agents = nodeIds.map((id) => new AgentStore(redis, keys, id));
const seeded: string[] = [];

function invocation(nodeId: string): Invocation {
  return {
    invokeId: newId('t-'),
    commandId: '',
    name: 'bench',
    description: '',
    content: Buffer.from('echo hello from $(hostname)'),
    nodeIds: [nodeId],
    frequency: '',
    repeatMode: 'Once',
    timeoutSeconds: 60,
    username: '',
    workingDir: '',
    parameters: {},
    enableParameter: false,
    terminationMode: 'ProcessTree',
    launcher: '',
    createdMs: Date.now(),
  };
}

/** One finished Once invocation on one node, written the way the API, scheduler and agent do. */
async function seedOne(i: number): Promise<void> {
  const agent = agents[i % NODES] as AgentStore;
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
    output: Buffer.from(`hello from ${agent.nodeId}\n`),
    dropped: 0,
    started: true,
  });
  seeded.push(inv.invokeId);
}

async function seedTo(total: number): Promise<number> {
  const t0 = performance.now();
  for (let i = seeded.length; i < total; i += SEED_BATCH) {
    const n = Math.min(SEED_BATCH, total - i);
    await Promise.all(Array.from({ length: n }, (_, k) => seedOne(i + k)));
  }
  return performance.now() - t0;
}

const pick = <T>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)] as T;

async function timed(body: Record<string, unknown>): Promise<{ ms: number; count: number }> {
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

async function measure(size: number): Promise<Figures> {
  const byId: number[] = [];
  const byNode: number[] = [];
  const perNode = Math.floor(size / NODES);
  let shortPages = 0;
  // Warm-up (connections, JIT) before timing.
  for (let i = 0; i < 10; i++) await timed({ InvokeId: pick(seeded), IncludeOutput: true });
  for (let i = 0; i < CALLS; i++) {
    byId.push((await timed({ InvokeId: pick(seeded), IncludeOutput: true })).ms);
    const page = await timed({ NodeId: pick(nodeIds), MaxResults: PAGE });
    byNode.push(page.ms);
    if (page.count < Math.min(PAGE, perNode)) shortPages++;
  }
  const p99 = (xs: number[]) =>
    Math.round(
      percentile(
        [...xs].sort((a, b) => a - b),
        0.99,
      ) * 100,
    ) / 100;
  return { byId: p99(byId), byNode: p99(byNode), shortPages };
}

try {
  await Promise.all(agents.map((a) => a.register(0, 'bench-boot', { hostname: a.nodeId })));
  const seedSmallMs = await seedTo(SMALL);
  const small = await measure(SMALL);
  const seedLargeMs = await seedTo(LARGE);
  const large = await measure(LARGE);
  const k = (n: number) => `${n / 1000}k`;
  const note = `p99 over ${CALLS} calls; ${NODES} nodes, each invocation on one of them`;
  /** A measure's absolute score at LARGE and its growth from SMALL. */
  const both = (label: string, at: (f: Figures) => number) => [
    score(
      `read-path: ${label} p99 at ${k(LARGE)}`,
      'ms',
      at(large),
      20,
      'lower',
      1,
      `absolute target: p99 <= 20 ms; ${note}`,
    ),
    score(
      `read-path: ${label} p99 at ${k(LARGE)} vs 1.5x at ${k(SMALL)}`,
      'ms',
      at(large),
      Math.round(1.5 * at(small) * 100) / 100,
      'lower',
      1,
      `baseline is 1.5 x the p99 at ${k(SMALL)} (${at(small)} ms)`,
    ),
  ];
  await publish([
    ...both('InvokeId+IncludeOutput', (f) => f.byId),
    ...both(`NodeId page of ${PAGE}`, (f) => f.byNode),
    mustBeZero(
      `read-path: NodeId pages short of ${PAGE}`,
      small.shortPages + large.shortPages,
      'pages holding fewer than 50 while the node has 50 or more (both sizes)',
    ),
    reportOnly(
      `read-path: seeding, per 1,000 invocations`,
      'ms',
      Math.round((seedSmallMs + seedLargeMs) / (LARGE / 1000)),
      'through the real store code and scripts, 1,000 at a time',
    ),
  ]);
} finally {
  redis.disconnect();
  await stack.close();
}
