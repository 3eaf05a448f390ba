import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { Keys } from '../../src/store/keys.js';
import { runJobId } from '../../src/store/queues.js';
import {
  describeOne,
  diskCounts,
  killAllFleet,
  makeApi,
  startFleetAgent,
  startFleetServer,
  waitAllFinal,
  type Call,
  type FleetServer,
} from '../helpers/fleet.js';
import { freshPrefix, redisUrl } from '../helpers/redis.js';
import { alive, waitFor } from '../helpers/stack.js';

/**
 * Fault: the agent is SIGKILLed while commands run. Its next life reports every run it had
 * started Error ("the command execution has been interrupted"), kills the orphaned process
 * groups it recorded for them, and none of them runs again: not after the BullMQ lock lapses,
 * not after the stalled check, not for a later command. Executions are counted on disk.
 */
const RUNS = 4;
const LOCK_SECONDS = 2;

void describe('fault: agent SIGKILL mid-run', () => {
  let dir: string;
  let server: FleetServer;
  let call: Call;
  let env: Record<string, string>;
  const orphans: number[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fleetcmd-fault-agent-'));
    env = {
      REDIS_URL: await redisUrl(),
      FLEETCMD_PREFIX: freshPrefix(),
      FLEETCMD_API_TOKEN: 'fault-agent-kill',
      FLEETCMD_HEARTBEAT_SECONDS: '1',
      FLEETCMD_DELIVERY_TIMEOUT_SECONDS: '30',
      FLEETCMD_AGENT_LOCK_SECONDS: String(LOCK_SECONDS),
    };
    server = await startFleetServer(env);
    call = makeApi(() => server.url, env.FLEETCMD_API_TOKEN ?? '');
  });
  after(async () => {
    for (const pid of orphans) if (alive(pid)) process.kill(pid, 'SIGKILL');
    await killAllFleet();
    await rm(dir, { recursive: true, force: true });
  });

  void it(`${RUNS} running commands: reported Error (interrupted), orphans killed, never re-run`, async () => {
    const agent = await startFleetAgent('ak1', env);
    const runs = join(dir, 'runs.log');
    const ids: string[] = [];
    for (let i = 0; i < RUNS; i++) {
      const res = await call('RunCommand', {
        NodeIdList: ['ak1'],
        // One line per execution, then a child that would outlive a dead agent.
        CommandContent: `echo "$FLEETCMD_INVOKE_ID ak1" >> ${runs}; echo $$ >> ${dir}/pids; sleep 120 & echo $! >> ${dir}/pids; wait`,
      });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      ids.push(res.body.InvokeId as string);
    }
    const pidsOf = async () =>
      (await readFile(join(dir, 'pids'), 'utf8').catch(() => ''))
        .split('\n')
        .filter(Boolean)
        .map(Number);
    await waitFor(
      'every command to start',
      async () => (await pidsOf()).length === RUNS * 2,
      30_000,
    );
    const pids = await pidsOf();
    orphans.push(...pids);

    for (const id of ids) {
      const n = (await describeOne(call, id))?.InvokeNodes.InvokeNode[0];
      assert.equal(n?.InvocationStatus, 'Running');
    }
    await agent.kill();
    assert.ok(pids.every(alive), 'the orphaned shells and their children outlive the agent');

    await startFleetAgent('ak1', env);
    await waitFor('the orphans to be killed', async () => !pids.some(alive), 10_000);
    const final = await waitAllFinal(call, ids, 20_000);
    for (const id of ids) {
      const inv = await describeOne(call, id);
      const n = inv?.InvokeNodes.InvokeNode[0];
      assert.equal(final.get(`${id} ak1`), 'Error');
      assert.equal(n?.ErrorCode, 'ExecutionInterrupted');
      assert.equal(n?.ErrorInfo, 'the command execution has been interrupted');
      assert.equal(n?.Repeats, 1);
    }

    // Past the dead agent's lock: BullMQ's stalled check fails the jobs (never retries them).
    const conn = new Redis(env.REDIS_URL ?? '', { maxRetriesPerRequest: null });
    const keys = new Keys(env.FLEETCMD_PREFIX ?? '');
    const q = new Queue(keys.nodeQueueName('ak1'), {
      connection: conn,
      prefix: keys.nodeQueuePrefix(),
    });
    try {
      await waitFor(
        'the dead agent’s jobs to be failed by the stalled check',
        async () => {
          const states = await Promise.all(ids.map((id) => q.getJobState(runJobId(id))));
          return states.every((s) => s === 'failed');
        },
        LOCK_SECONDS * 1000 * 5 + 10_000,
      );
    } finally {
      await q.close();
      conn.disconnect();
    }
    // A later command on the same agent runs: its queue is live, and nothing stale came first.
    const later = await call('RunCommand', {
      NodeIdList: ['ak1'],
      CommandContent: `echo "$FLEETCMD_INVOKE_ID ak1" >> ${runs}`,
    });
    const laterId = later.body.InvokeId as string;
    assert.equal((await waitAllFinal(call, [laterId], 20_000)).get(`${laterId} ak1`), 'Success');

    const counts = await diskCounts(runs);
    for (const id of ids) assert.equal(counts.get(`${id} ak1`), 1, `${id} ran exactly once`);
    assert.equal(counts.get(`${laterId} ak1`), 1);
    assert.equal(counts.size, RUNS + 1);
    for (const id of ids) {
      assert.equal(
        (await describeOne(call, id))?.InvokeNodes.InvokeNode[0]?.InvocationStatus,
        'Error',
      );
    }
  });
});
