/**
 * Output groups: SummarizeInvocation on one invocation of NODES finished nodes. The nodes, the
 * invocation and every run are seeded through the real store code and scripts (each node
 * registers and announces itself as its agent does, then InvocationStore.create and publish,
 * RunStore.create, the agent's claim and finish, which computes the digest and appends the run's
 * end to the node's outbox), and the bench stack's own scheduler adds each node to its registry
 * and its event relay counts each end as it would in production; seeding waits until all are
 * counted. The relay reads only registered nodes' outboxes: without the registration nothing is
 * ever counted. Each wait fails with what it saw after WAIT_STALL_MS without progress.
 * Outputs fall into 3 groups (most nodes print the same line, a few fail, a few print their own
 * line).
 *
 * Measured (p99 over CALLS calls through the HTTP API): SummarizeInvocation, and with
 * IncludeOutput (one output read per group). Target: p99 <= 20 ms at 10,000 nodes, reading
 * O(groups), not O(nodes).
 *
 *   node --import tsx bench/summarize.ts [--quick]
 */
import { Redis } from 'ioredis';
import { benchInvocation } from './bench-invocation.js';
import type { Invocation } from '../src/domain/invocation.js';
import { AgentStore } from '../src/store/agent-store.js';
import { InvocationStore } from '../src/store/invocation-store.js';
import { Keys } from '../src/store/keys.js';
import { RunStore } from '../src/store/run-store.js';
import { percentile, publish, quick, reportOnly, score } from './harness.js';
import { startBenchStack } from './local-stack.js';
import { Cleanup, sleep } from './processes.js';
import { registerNodes } from './seed-nodes.js';

const NODES = 10_000;
const CALLS = quick ? 100 : 300;
const SEED_BATCH = 500;
/** A wait on the scheduler (registry, counted ends) fails after this long without progress. */
const WAIT_STALL_MS = 60_000;

const cleanup = new Cleanup();
cleanup.onSignals();
const stack = await startBenchStack('sum', [], { cleanup });
const redis = new Redis(stack.redisUrl, { enableAutoPipelining: true, maxRetriesPerRequest: null });
const keys = new Keys(stack.prefix);
const invocations = new InvocationStore(redis, keys);
const runs = new RunStore(redis, keys);
const nodeIds = Array.from({ length: NODES }, (_, i) => `sm-${String(i).padStart(5, '0')}`);

/** What node `i` ends with: most alike, some failing, a few with their own answer. */
function outcomeOf(i: number) {
  if (i % 100 === 7) return { status: 'Failed' as const, exitCode: 1, text: 'no space left\n' };
  if (i % 1000 === 3) return { status: 'Success' as const, exitCode: 0, text: 'stale cache\n' };
  return { status: 'Success' as const, exitCode: 0, text: 'ok\n' };
}

/**
 * Polls `progress` until it reaches `goal`; throws, naming `what`, once it has not moved for
 * WAIT_STALL_MS (so a scheduler that never counts fails the run instead of hanging it).
 */
async function waitFor(what: string, goal: number, progress: () => Promise<number>) {
  let last = -1;
  let movedAt = Date.now();
  for (;;) {
    const n = await progress();
    if (n >= goal) return;
    if (n !== last) {
      last = n;
      movedAt = Date.now();
    } else if (Date.now() - movedAt > WAIT_STALL_MS) {
      throw new Error(
        `summarize: ${what}: ${n} of ${goal}, no progress for ${WAIT_STALL_MS / 1000} s`,
      );
    }
    await sleep(100);
  }
}

/** Registers every node as its agent would, and waits until the scheduler has them all. */
async function registerAll(): Promise<void> {
  await registerNodes(redis, keys, nodeIds);
  await waitFor("nodes in the scheduler's registry", NODES, () => redis.scard(keys.nodeRegistry()));
}

async function seed(): Promise<{ inv: Invocation; ms: number }> {
  await registerAll();
  const t0 = performance.now();
  const inv: Invocation = benchInvocation(nodeIds, './check.sh');
  const { createdMs } = await invocations.create(inv);
  await invocations.publish(inv, createdMs, Date.now(), false);
  for (let i = 0; i < NODES; i += SEED_BATCH) {
    await Promise.all(
      nodeIds.slice(i, i + SEED_BATCH).map(async (nodeId, k) => {
        const agent = new AgentStore(redis, keys, nodeId);
        await runs.create(nodeId, inv.invokeId, createdMs);
        await agent.claim(inv.invokeId, '', 'bench-agent', `${inv.invokeId}-${nodeId}`, 'boot');
        const o = outcomeOf(i + k);
        await agent.finish(inv.invokeId, 'bench-agent', {
          status: o.status,
          exitCode: o.exitCode,
          errorCode: o.status === 'Failed' ? 'ExitCodeNonzero' : '',
          errorInfo: '',
          output: Buffer.from(o.text),
          dropped: 0,
          started: true,
        });
      }),
    );
  }
  await invocations.markDispatched(inv.invokeId, Date.now());
  // The scheduler's event relay counts each end from the node's outbox; wait for them all.
  await waitFor('run ends counted by the scheduler', NODES, () =>
    runs.rollouts.foldedCount(inv.invokeId, ''),
  );
  return { inv, ms: performance.now() - t0 };
}

/** The p50 of each p99Of call, in order (reported: on a shared box the tail moves most). */
const medians: number[] = [];

async function p99Of(body: Record<string, unknown>, check: (r: unknown) => void): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < CALLS + 10; i++) {
    const t0 = performance.now();
    const r = await stack.call('SummarizeInvocation', body);
    const ms = performance.now() - t0;
    check(r);
    if (i >= 10) times.push(ms);
  }
  times.sort((a, b) => a - b);
  medians.push(Math.round(percentile(times, 0.5) * 100) / 100);
  return Math.round(percentile(times, 0.99) * 100) / 100;
}

try {
  const { inv, ms } = await seed();
  const groupsOf = (r: unknown) =>
    (r as { Groups?: { Group: { NodeCount: number }[] } }).Groups?.Group ?? [];
  const check = (r: unknown) => {
    const g = groupsOf(r);
    if (g.length !== 3 || g.reduce((n, x) => n + x.NodeCount, 0) !== NODES) {
      throw new Error(`SummarizeInvocation answered ${JSON.stringify(r).slice(0, 400)}`);
    }
  };
  const plain = await p99Of({ InvokeId: inv.invokeId }, check);
  const withOutput = await p99Of({ InvokeId: inv.invokeId, IncludeOutput: true }, check);
  const note = `p99 over ${CALLS} calls through the HTTP API; 3 groups; counts kept as runs end`;
  await publish([
    score(
      'summarize: SummarizeInvocation p99 at 10k finished nodes',
      'ms',
      plain,
      20,
      'lower',
      1,
      `absolute target: p99 <= 20 ms; ${note}`,
    ),
    reportOnly(
      'summarize: SummarizeInvocation+IncludeOutput p99 at 10k finished nodes',
      'ms',
      withOutput,
      `${note}; one output read per group`,
    ),
    reportOnly(
      'summarize: SummarizeInvocation p50 at 10k finished nodes',
      'ms',
      medians[0] ?? 0,
      note,
    ),
    reportOnly(
      'summarize: seeding 10k finished nodes, until all counted',
      'ms',
      Math.round(ms),
      'from the first run created (the nodes registered before) through the real store scripts; the scheduler counts each end from its outbox',
    ),
  ]);
} finally {
  redis.disconnect();
  await stack.close();
  await cleanup.runAll();
}
