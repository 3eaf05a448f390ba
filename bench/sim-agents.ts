/**
 * Simulated agents for benchmarks: one child process runs the real Agent (workers/agent) for
 * many node ids, each with its own BullMQ Worker on that node's real run queue and the real
 * claim/finish scripts (AgentStore), but an `execute` that spawns nothing: every command
 * "prints" `ok` and exits 0 at once. One connection, subscriber and logger are shared per
 * process. The parent starts a few of these with startSimAgents and stops them with stop().
 *
 *   (child) node --import tsx bench/sim-agents.ts <redisUrl> <prefix> <nodeId>...
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { OutputCapture } from '../src/domain/output.js';
import { makeLogger } from '../src/shared/log.js';
import { AgentStore } from '../src/store/agent-store.js';
import { Keys } from '../src/store/keys.js';
import { makeRedis } from '../src/store/redis.js';
import { Agent } from '../workers/agent/agent.js';
import type { CommandHandle } from '../workers/agent/exec/start-command.js';

/** What the output of the section "which agents" says. */
export const SIM_AGENTS_NOTE =
  'simulated agents: real Agent, BullMQ Worker per node queue, real claim/finish scripts; no spawn';

/** A command that ran and exited 0 at once, having printed `ok\n`. */
function instantSuccess(): Promise<CommandHandle> {
  const capture = new OutputCapture();
  capture.push(Buffer.from('ok\n'));
  return Promise.resolve({
    capture,
    pid: undefined,
    scriptDir: '',
    stop: () => undefined,
    done: Promise.resolve({ status: 'Success', exitCode: 0, errorCode: '', started: true }),
  });
}

async function runChild(redisUrl: string, prefix: string, nodeIds: string[]): Promise<void> {
  const keys = new Keys(prefix);
  const connection = makeRedis(redisUrl, 'worker', 'bench-sim-agents');
  const subscriber = makeRedis(redisUrl, 'subscriber', 'bench-sim-ctl');
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
        execute: instantSuccess,
      }),
  );
  const stop = async () => {
    await Promise.allSettled(agents.map((a) => a.stop()));
    connection.disconnect();
    subscriber.disconnect();
    process.exit(0);
  };
  // The parent holds the IPC channel: when it is gone, so is its Redis; nothing to drain.
  process.on('disconnect', () => process.exit(0));
  process.on('SIGTERM', () => void stop());
  for (let i = 0; i < agents.length; i += 50) {
    await Promise.all(agents.slice(i, i + 50).map((a) => a.start()));
  }
  process.send?.('ready');
}

export interface SimAgents {
  children: ChildProcess[];
  stop(): Promise<void>;
}

/** Starts `processes` children sharing `nodeIds` between them; resolves once all registered. */
export async function startSimAgents(
  redisUrl: string,
  prefix: string,
  nodeIds: readonly string[],
  processes: number,
): Promise<SimAgents> {
  const self = fileURLToPath(import.meta.url);
  const per = Math.ceil(nodeIds.length / processes);
  const children: ChildProcess[] = [];
  const ready: Promise<void>[] = [];
  for (let p = 0; p * per < nodeIds.length; p++) {
    const ids = nodeIds.slice(p * per, (p + 1) * per);
    const child = spawn(process.execPath, ['--import', 'tsx', self, redisUrl, prefix, ...ids], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
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
  try {
    await Promise.all(ready);
  } catch (err) {
    await stop();
    throw err;
  }
  return { children, stop };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [redisUrl = '', prefix = '', ...nodeIds] = process.argv.slice(2);
  await runChild(redisUrl, prefix, nodeIds);
}
