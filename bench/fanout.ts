/**
 * Fan-out: one RunCommand to 1,000 registered nodes. Simulated agents (bench/sim-agents.ts: 4
 * child processes, each running the real Agent with a BullMQ Worker per node queue and the real
 * claim/finish scripts, but spawning nothing) take the runs, so they reach Success through the
 * real Lua scripts. Calls to 1 node and to 1,000 nodes alternate; each waits until its runs are
 * all Success before the next, so every answer is timed on a quiet stack.
 *
 * Measured: what a user waits for. RunCommand's answer time (p99) at 1,000 nodes (absolute
 * target 50 ms), and the time from sending RunCommand until all 1,000 runs are dispatched
 * (dispatchedMs: every record created and job queued), each against BullMQ's own bulk add of
 * the same 1,000 jobs (FlowProducer.addBulk: one job on each of the 1,000 node queues, the run
 * jobs' options, in one MULTI) timed in the same loop, interleaved, on the same redis-server
 * (under another prefix, so no agent takes them); scored by the median ratio of the pairs. The
 * 1-node answer and the time until DescribeInvocations shows Success (polled every 20 ms) are
 * report rows.
 *
 *   node --import tsx bench/fanout.ts [--quick]
 */
import { FlowProducer } from 'bullmq';
import {
  percentile,
  publish,
  quick,
  reportOnly,
  score,
  scorePairs,
  type RoundPair,
} from './harness.js';
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
/** BullMQ's baseline queues: the node queues' names under a prefix no agent consumes. */
const baselineKeys = new Keys(`${stack.prefix}-bl`);
const flows = new FlowProducer({ connection: redis, prefix: baselineKeys.nodeQueuePrefix() });

/** BullMQ's own bulk add of one run job to each of `targets`' queues, timed. */
async function addBulk(targets: string[], round: number): Promise<number> {
  const invokeId = `t-bl${String(round).padStart(15, '0')}`;
  const p0 = performance.now();
  await flows.addBulk(
    targets.map((nodeId) => ({
      name: 'run',
      queueName: baselineKeys.nodeQueueName(nodeId),
      data: { invokeId, nodeId, content: 'true', timeoutSeconds: 60, fire: '' },
      opts: { attempts: 1, removeOnComplete: true, jobId: `r-${invokeId}` },
    })),
  );
  return performance.now() - p0;
}

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
  await addBulk(nodeIds, -1);
  const one: Timing[] = [];
  const all: Timing[] = [];
  const bulk: number[] = [];
  for (let i = 0; i < CALLS; i++) {
    one.push(await once(nodeIds.slice(i % NODES, (i % NODES) + 1)));
    // Alternate which goes first, so neither always follows the other's cleanup.
    if (i % 2 === 0) bulk.push(await addBulk(nodeIds, i));
    all.push(await once(nodeIds));
    if (i % 2 === 1) bulk.push(await addBulk(nodeIds, i));
  }
  const pairs = (k: keyof Timing): RoundPair[] =>
    all.map((t, i) => ({ ours: t[k], baseline: bulk[i] ?? 0 }));
  const sorted = (xs: Timing[], k: keyof Timing) => xs.map((x) => x[k]).sort((a, b) => a - b);
  const p99 = (xs: Timing[], k: keyof Timing) => percentile(sorted(xs, k), 0.99);
  const p50 = (xs: Timing[], k: keyof Timing) => percentile(sorted(xs, k), 0.5);
  const r2 = (v: number) => Math.round(v * 100) / 100;
  const answer1 = r2(p99(one, 'answerMs'));
  const answerAll = r2(p99(all, 'answerMs'));
  const bulkSorted = [...bulk].sort((a, b) => a - b);
  const calls = `${CALLS} calls each, alternating 1 and ${NODES} nodes; ${SIM_AGENTS_NOTE} (${PROCESSES} processes)`;
  const vsBulk = `baseline: BullMQ FlowProducer.addBulk of the same ${NODES} jobs (one per node queue), timed in the same loop; median ratio of ${CALLS} interleaved pairs`;
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
    scorePairs(
      `fanout: RunCommand answer at ${NODES} nodes vs BullMQ addBulk of ${NODES} jobs`,
      'ms',
      pairs('answerMs'),
      'lower',
      1,
      `target: the answer comes no later than BullMQ alone adds the jobs; ${vsBulk}`,
    ),
    scorePairs(
      `fanout: ${NODES} runs dispatched vs BullMQ addBulk of ${NODES} jobs`,
      'ms',
      pairs('dispatchedMs'),
      'lower',
      0.33,
      `from sending RunCommand until every record is created and every job queued; target: within 3x BullMQ's bulk add of the jobs alone (fleetcmd also writes each node's record and index); ${vsBulk}`,
    ),
    reportOnly(
      `fanout: BullMQ addBulk of ${NODES} jobs, p50`,
      'ms',
      r2(percentile(bulkSorted, 0.5)),
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
  await flows.close();
  redis.disconnect();
  await agents.stop();
  await stack.close();
}
