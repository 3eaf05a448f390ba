/**
 * Fan-out: one RunCommand to 1,000 registered nodes. Simulated agents (bench/sim-agents.ts: 4
 * child processes, each running the real Agent with a BullMQ Worker per node queue and the real
 * claim/finish scripts, but spawning nothing) take the runs, so they reach Success through the
 * real Lua scripts. Calls to 1 node and to 1,000 nodes alternate; each waits until its runs are
 * all Success before the next, so every answer is timed on a quiet stack.
 *
 * Measured: RunCommand's answer time (p99) at 1,000 nodes (absolute target 50 ms) and against
 * twice the answer at 1 node (target: p99@1000 <= 2 x p99@1); the time from sending RunCommand
 * until all 1,000 runs are dispatched (dispatchedMs: every record created and job queued), and
 * until DescribeInvocations shows the invocation Success (polled every 20 ms).
 *
 *   node --import tsx bench/fanout.ts [--quick]
 */
import { percentile, publish, quick, reportOnly, score } from './harness.js';
import { startBenchStack } from './local-stack.js';
import { SIM_AGENTS_NOTE, startSimAgents } from './sim-agents.js';
import { InvocationStore } from '../src/store/invocation-store.js';
import { Keys } from '../src/store/keys.js';
import { makeRedis } from '../src/store/redis.js';

const NODES = 1000;
const CALLS = quick ? 8 : 30;
const PROCESSES = 4;
const POLL_MS = 20;
/** After a Success, the workers' own bookkeeping (job completion) is let finish. */
const SETTLE_MS = 200;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const nodeIds = Array.from({ length: NODES }, (_, i) => `sim-${String(i).padStart(4, '0')}`);

const stack = await startBenchStack('fo', []);
const agents = await startSimAgents(stack.redisUrl, stack.prefix, nodeIds, PROCESSES);
const redis = makeRedis(stack.redisUrl, 'worker', 'bench-fanout');
const invocations = new InvocationStore(redis, new Keys(stack.prefix));

interface Timing {
  answerMs: number;
  dispatchedMs: number;
  successMs: number;
}

async function invocationStatus(invokeId: string): Promise<string> {
  const d = (await stack.call('DescribeInvocations', { InvokeId: invokeId })) as {
    Invocations?: { Invocation: { InvocationStatus: string }[] };
  };
  return d.Invocations?.Invocation[0]?.InvocationStatus ?? '';
}

/** One RunCommand to `targets`, timed until its answer, its dispatch and its Success. */
async function once(targets: string[]): Promise<Timing> {
  const t0 = Date.now();
  const p0 = performance.now();
  const r = await stack.call('RunCommand', { NodeIdList: targets, CommandContent: 'true' });
  const answerMs = performance.now() - p0;
  if (typeof r.InvokeId !== 'string') throw new Error(`RunCommand failed: ${JSON.stringify(r)}`);
  const invokeId = r.InvokeId;
  // The server runs in this process, so its dispatchedMs is on this clock.
  let dispatched: number | undefined;
  for (;;) {
    dispatched ??= (await invocations.progress(invokeId)).dispatchedMs;
    const status = await invocationStatus(invokeId);
    if (status === 'Success' && dispatched !== undefined) break;
    if (status !== 'Pending' && status !== 'Running' && status !== 'Success') {
      throw new Error(`invocation ${invokeId} ended ${status}`);
    }
    await sleep(POLL_MS);
  }
  const timing = { answerMs, dispatchedMs: dispatched - t0, successMs: Date.now() - t0 };
  await sleep(SETTLE_MS);
  return timing;
}

try {
  // Warm-up: every queue and script is used once before anything is timed.
  await once(nodeIds);
  await once(nodeIds.slice(0, 1));
  const one: Timing[] = [];
  const all: Timing[] = [];
  for (let i = 0; i < CALLS; i++) {
    one.push(await once(nodeIds.slice(i % NODES, (i % NODES) + 1)));
    all.push(await once(nodeIds));
  }
  const sorted = (xs: Timing[], k: keyof Timing) => xs.map((x) => x[k]).sort((a, b) => a - b);
  const p99 = (xs: Timing[], k: keyof Timing) => percentile(sorted(xs, k), 0.99);
  const p50 = (xs: Timing[], k: keyof Timing) => percentile(sorted(xs, k), 0.5);
  const r2 = (v: number) => Math.round(v * 100) / 100;
  const answer1 = r2(p99(one, 'answerMs'));
  const answerAll = r2(p99(all, 'answerMs'));
  const calls = `${CALLS} calls each, alternating 1 and ${NODES} nodes; ${SIM_AGENTS_NOTE} (${PROCESSES} processes)`;
  await publish([
    score(
      `fanout: RunCommand p99 at ${NODES} nodes`,
      'ms',
      answerAll,
      50,
      'lower',
      1,
      `absolute target: p99 <= 50 ms; ${calls}`,
    ),
    score(
      `fanout: RunCommand p99 at ${NODES} nodes vs 2x p99 at 1 node`,
      'ms',
      answerAll,
      r2(2 * answer1),
      'lower',
      1,
      `baseline is twice the p99 at 1 node (${answer1} ms): passes when p99@${NODES} <= 2 x p99@1`,
    ),
    reportOnly(`fanout: RunCommand p99 at 1 node`, 'ms', answer1, calls),
    reportOnly(
      `fanout: ${NODES} runs dispatched, p50`,
      'ms',
      r2(p50(all, 'dispatchedMs')),
      'from sending RunCommand until every record is created and every job queued',
    ),
    reportOnly(`fanout: ${NODES} runs dispatched, max`, 'ms', r2(p99(all, 'dispatchedMs'))),
    reportOnly(
      `fanout: ${NODES} runs Success via API, p50`,
      'ms',
      r2(p50(all, 'successMs')),
      `from sending RunCommand until DescribeInvocations answers Success (polled every ${POLL_MS} ms)`,
    ),
    reportOnly(`fanout: ${NODES} runs Success via API, max`, 'ms', r2(p99(all, 'successMs'))),
  ]);
} finally {
  redis.disconnect();
  await agents.stop();
  await stack.close();
}
