/**
 * Simulated agents for benchmarks: one child process runs the real Agent (workers/agent) for
 * many node ids, each with its own BullMQ Worker on that node's real run queue and the real
 * claim/finish scripts (AgentStore), but an `execute` that spawns nothing: every command
 * "prints" `ok` and exits 0 at once. One connection, subscriber and logger are shared per
 * process. The parent starts a few of these with startSimAgents and stops them with stop().
 *
 *   (child) node --import tsx bench/sim-agents.ts <prefix> <nodeId>...
 *   (its Redis, a URL or a cluster, as JSON in SIM_AGENT_REDIS: a password stays off argv)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { RedisTarget } from '../src/shared/redis-target.js';
import { OutputCapture } from '../src/domain/output.js';
import type { Tag } from '../src/domain/tags.js';
import { makeLogger } from '../src/shared/log.js';
import { AgentStore } from '../src/store/agent-store.js';
import { Keys } from '../src/store/keys.js';
import { makeRedis, type RedisClient } from '../src/store/redis.js';
import { Agent } from '../workers/agent/agent.js';
import type { ExecOutcome } from '../workers/agent/exec/outcome.js';
import type { CommandHandle } from '../workers/agent/exec/start-command.js';

/** What the output of the section "which agents" says. */
export const SIM_AGENTS_NOTE =
  'simulated agents: real Agent, BullMQ Worker per node queue, real claim/finish scripts; no spawn';

/** What a simulated run does beyond succeeding: how long it lasts, and the in-flight count. */
export interface SimRunOptions {
  /** Each run lasts this long before it exits 0. @default 0 (at once) */
  runMs?: number;
  /**
   * A Redis key counting the runs in flight across every simulated agent (INCR at start, DECR at
   * the end); each process keeps the highest count it saw, which stop() answers.
   */
  inFlightKey?: string;
  /** Each node's tags, reported at registration as FLEETCMD_NODE_TAGS would. */
  tagsOf?: (nodeId: string) => Tag[];
}

/** A command that exits 0 after `runMs`, having printed `ok\n`; counted while in flight. */
function simulatedRun(
  redis: RedisClient,
  opts: SimRunOptions,
  peak: { max: number },
): () => Promise<CommandHandle> {
  const runMs = opts.runMs ?? 0;
  const key = opts.inFlightKey;
  return async (): Promise<CommandHandle> => {
    const capture = new OutputCapture();
    capture.push(Buffer.from('ok\n'));
    if (key !== undefined) peak.max = Math.max(peak.max, await redis.incr(key));
    const done = (async (): Promise<ExecOutcome> => {
      if (runMs > 0) await new Promise((r) => setTimeout(r, runMs));
      if (key !== undefined) await redis.decr(key);
      return { status: 'Success', exitCode: 0, errorCode: '', started: true };
    })();
    return { capture, pid: undefined, scriptDir: '', stop: () => undefined, done };
  };
}

async function runChild(target: RedisTarget, prefix: string, nodeIds: string[]): Promise<void> {
  const keys = new Keys(prefix);
  const opts = JSON.parse(process.env.SIM_AGENT_OPTIONS ?? '{}') as {
    runMs?: number;
    inFlightKey?: string;
    tags?: Record<string, Tag[]>;
  };
  const peak = { max: 0 };
  const connection = makeRedis(target, 'worker', 'bench-sim-agents');
  const execute = simulatedRun(connection, opts, peak);
  const subscriber = makeRedis(target, 'subscriber', 'bench-sim-ctl');
  subscriber.setMaxListeners(0);
  const log = makeLogger('error', 'sim-agent');
  const agents = nodeIds.map(
    (nodeId) =>
      new Agent({
        nodeId,
        store: new AgentStore(connection, keys, nodeId),
        keys,
        connection,
        subscriber,
        log,
        heartbeatSeconds: 10,
        concurrency: 1,
        graceSeconds: 1,
        bootId: 'bench-boot',
        execute,
        ...(opts.tags?.[nodeId] ? { tags: opts.tags[nodeId] } : {}),
      }),
  );
  const stop = async () => {
    await Promise.allSettled(agents.map((a) => a.stop()));
    connection.disconnect();
    subscriber.disconnect();
    process.exit(0);
  };
  // On a cluster, ioredis 5.11 may fail a Cluster subscriber's ready check ("Connection in
  // subscriber mode": its INFO comes after a SUBSCRIBE already sent) and throw it with no
  // handler to take it; the connection is made again by itself. Logged, not fatal to the bench.
  process.on('uncaughtException', (err) => {
    console.error(`simulated agents: ${String(err)}`);
    if (!/subscriber mode|only \(P\|S\)SUBSCRIBE/.test(String(err))) process.exit(1);
  });
  // One subscription made before the agents': the subscriber's connection is up and past its
  // ready check before 1 in 50 agents subscribe at once (what set the above off every time).
  await subscriber.subscribe(`${prefix}:bench:sim-ready`);
  // The parent holds the IPC channel: when it is gone, so is its Redis; nothing to drain.
  process.on('disconnect', () => process.exit(0));
  process.on('SIGTERM', () => void stop());
  // The parent asks for the highest in-flight count this process saw.
  process.on('message', (m) => {
    if (m !== 'peak?') return;
    process.send?.({ peak: peak.max });
    peak.max = 0;
  });
  for (let i = 0; i < agents.length; i += 50) {
    await Promise.all(agents.slice(i, i + 50).map((a) => a.start()));
  }
  process.send?.('ready');
}

export interface SimAgents {
  children: ChildProcess[];
  /** The highest count of runs in flight any run saw at its start since the last ask (SimRunOptions.inFlightKey). */
  peakInFlight(): Promise<number>;
  stop(): Promise<void>;
}

/** Starts `processes` children sharing `nodeIds` between them; resolves once all registered. */
export async function startSimAgents(
  redis: string | RedisTarget,
  prefix: string,
  nodeIds: readonly string[],
  processes: number,
  run: SimRunOptions = {},
): Promise<SimAgents> {
  const self = fileURLToPath(import.meta.url);
  const per = Math.ceil(nodeIds.length / processes);
  const children: ChildProcess[] = [];
  const ready: Promise<void>[] = [];
  for (let p = 0; p * per < nodeIds.length; p++) {
    const ids = nodeIds.slice(p * per, (p + 1) * per);
    const tagsOf = run.tagsOf;
    const options = {
      runMs: run.runMs,
      inFlightKey: run.inFlightKey,
      tags: tagsOf ? Object.fromEntries(ids.map((id) => [id, tagsOf(id)])) : undefined,
    };
    const target: RedisTarget = typeof redis === 'string' ? { kind: 'url', url: redis } : redis;
    const child = spawn(process.execPath, ['--import', 'tsx', self, prefix, ...ids], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: {
        ...process.env,
        SIM_AGENT_OPTIONS: JSON.stringify(options),
        SIM_AGENT_REDIS: JSON.stringify(target),
      },
    });
    children.push(child);
    ready.push(
      new Promise((resolve, reject) => {
        child.once('message', () => resolve());
        child.once('exit', (code) => reject(new Error(`simulated agents exited (${code})`)));
      }),
    );
  }
  const stop = async () => {
    await Promise.all(
      children.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            const timer = setTimeout(() => c.kill('SIGKILL'), 5_000);
            c.once('exit', () => {
              clearTimeout(timer);
              resolve();
            });
            c.kill('SIGTERM');
          }),
      ),
    );
  };
  const peakInFlight = async () => {
    const peaks = await Promise.all(
      children.map(
        (c) =>
          new Promise<number>((resolve) => {
            c.once('message', (m: { peak?: number }) => resolve(m.peak ?? 0));
            c.send('peak?');
          }),
      ),
    );
    return Math.max(0, ...peaks);
  };
  try {
    await Promise.all(ready);
  } catch (err) {
    await stop();
    throw err;
  }
  return { children, peakInFlight, stop };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [prefix = '', ...nodeIds] = process.argv.slice(2);
  await runChild(JSON.parse(process.env.SIM_AGENT_REDIS ?? '{}') as RedisTarget, prefix, nodeIds);
}
