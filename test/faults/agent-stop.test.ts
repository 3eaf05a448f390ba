import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
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
import { waitFor } from '../helpers/stack.js';

/**
 * Fault: the agent is cut off (SIGSTOP: alive, holding its connections, doing nothing) for
 * longer than the delivery timeout. Runs sent to it meanwhile become Aborted; after SIGCONT none
 * of those stale jobs runs, the command it was running when it froze still reports once, and
 * new work runs. Executions are counted on disk.
 */
const STALE = 10;
const DELIVERY_TIMEOUT_SECONDS = 3;

void describe('fault: agent cut off (SIGSTOP) past the delivery timeout', () => {
  const fx = useFaultFixture({
    FLEETCMD_DELIVERY_TIMEOUT_SECONDS: String(DELIVERY_TIMEOUT_SECONDS),
  });
  let server: FleetServer;
  let call: Call;

  before(async () => {
    server = await startFleetServer(fx.env);
    call = apiFor(() => server.url, fx.env);
  });

  void it('its pending runs become Aborted; after it resumes no stale job runs', async () => {
    const agent = await startFleetAgent('st1', fx.env);
    const file = join(fx.dir, 'runs.log');
    const line = `echo "$FLEETCMD_INVOKE_ID st1" >> ${file}`;

    // Running when the agent freezes: its child is not stopped, and finishes meanwhile.
    const busy = await call('RunCommand', {
      NodeIdList: ['st1'],
      CommandContent: `${line}; sleep 2; echo done`,
    });
    const busyId = busy.body.InvokeId as string;
    await waitFor(
      'the busy run to start',
      async () => (await diskCounts(file)).has(`${busyId} st1`),
      20_000,
    );

    agent.signal('SIGSTOP');
    try {
      const stale: string[] = [];
      for (let i = 0; i < STALE; i++) {
        const res = await call('RunCommand', { NodeIdList: ['st1'], CommandContent: line });
        assert.equal(res.status, 200, JSON.stringify(res.body));
        stale.push(res.body.InvokeId as string);
      }
      const final = await waitAllFinal(call, stale, DELIVERY_TIMEOUT_SECONDS * 1000 + 30_000);
      for (const id of stale) assert.equal(final.get(`${id} st1`), 'Aborted');
      for (const id of stale) {
        const n = (await describeOne(call, id))?.InvokeNodes.InvokeNode[0];
        assert.ok(
          n?.ErrorCode === 'ClientNotRunning' || n?.ErrorCode === 'DeliveryTimeout',
          `ErrorCode ${String(n?.ErrorCode)}`,
        );
      }
      // Their jobs are gone from the node's queue (removed while they waited).
      const left = await withNodeQueue(fx.env, 'st1', (q) => q.getJobCounts('waiting', 'delayed'));
      assert.deepEqual(left, { waiting: 0, delayed: 0 }, 'no stale job waits for the agent');
      agent.signal('SIGCONT');

      // New work runs once it is back: its queue is live again.
      const fresh = await call('RunCommand', { NodeIdList: ['st1'], CommandContent: line });
      const freshId = fresh.body.InvokeId as string;
      const after = await waitAllFinal(call, [freshId, busyId], 30_000);
      assert.equal(after.get(`${freshId} st1`), 'Success');
      assert.equal(after.get(`${busyId} st1`), 'Success', 'the frozen run reports once resumed');

      const counts = await diskCounts(file);
      for (const id of stale) assert.equal(counts.get(`${id} st1`), undefined, `${id} never ran`);
      assert.equal(counts.get(`${busyId} st1`), 1);
      assert.equal(counts.get(`${freshId} st1`), 1);
      for (const id of stale) {
        const n = (await describeOne(call, id))?.InvokeNodes.InvokeNode[0];
        assert.equal(n?.InvocationStatus, 'Aborted');
        assert.equal(n?.Repeats, 0);
      }
    } finally {
      agent.signal('SIGCONT');
    }
  });
});
