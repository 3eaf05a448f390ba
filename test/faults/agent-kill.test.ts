import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { NODE_STALLED_CHECK_LOCKS, runJobId } from '../../src/store/queues.js';
import {
  describeOne,
  diskCounts,
  apiFor,
  useFaultFixture,
  withNodeQueue,
  startFleetAgent,
  startFleetServer,
  waitAllFinal,
  type Call,
  type FleetServer,
} from '../helpers/fleet.js';
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
  const fx = useFaultFixture({
    FLEETCMD_DELIVERY_TIMEOUT_SECONDS: '30',
    FLEETCMD_AGENT_LOCK_SECONDS: String(LOCK_SECONDS),
  });
  let server: FleetServer;
  let call: Call;

  before(async () => {
    server = await startFleetServer(fx.env);
    call = apiFor(() => server.url, fx.env);
  });

  void it(`${RUNS} running commands: reported Error (interrupted), orphans killed, never re-run`, async () => {
    const agent = await startFleetAgent('ak1', fx.env);
    const runs = join(fx.dir, 'runs.log');
    const ids: string[] = [];
    for (let i = 0; i < RUNS; i++) {
      const res = await call('RunCommand', {
        NodeIdList: ['ak1'],
        // One line per execution, then a child that would outlive a dead agent.
        CommandContent: `echo "$FLEETCMD_INVOKE_ID ak1" >> ${runs}; echo $$ >> ${fx.dir}/pids; sleep 120 & echo $! >> ${fx.dir}/pids; wait`,
      });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      ids.push(res.body.InvokeId as string);
    }
    const pidsOf = async () =>
      (await readFile(join(fx.dir, 'pids'), 'utf8').catch(() => ''))
        .split('\n')
        .filter(Boolean)
        .map(Number);
    await waitFor(
      'every command to start',
      async () => (await pidsOf()).length === RUNS * 2,
      30_000,
    );
    const pids = await pidsOf();
    fx.pids.push(...pids);

    for (const id of ids) {
      const n = (await describeOne(call, id))?.InvokeNodes.InvokeNode[0];
      assert.equal(n?.InvocationStatus, 'Running');
    }
    await agent.kill();
    assert.ok(pids.every(alive), 'the orphaned shells and their children outlive the agent');

    await startFleetAgent('ak1', fx.env);
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
    await withNodeQueue(fx.env, 'ak1', (q) =>
      waitFor(
        'the dead agent’s jobs to be failed by the stalled check',
        async () => {
          const states = await Promise.all(ids.map((id) => q.getJobState(runJobId(id))));
          return states.every((s) => s === 'failed');
        },
        // BullMQ fails a stalled job at the second check that finds its lock gone.
        LOCK_SECONDS * 1000 * NODE_STALLED_CHECK_LOCKS * 3 + 30_000,
      ),
    );
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
