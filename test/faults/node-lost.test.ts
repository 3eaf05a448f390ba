import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import {
  apiFor,
  describeOne,
  diskCounts,
  probe,
  startFleetAgent,
  startFleetServer,
  useFaultFixture,
  waitAllFinal,
  type Call,
  type FaultFixture,
  type FleetServer,
} from '../helpers/fleet.js';
import { Keys } from '../../src/store/keys.js';
import { allResults, waitFor } from '../helpers/stack.js';
import { HANG_MS } from '../helpers/hang.js';

/**
 * Fault: a node's agent dies (SIGKILL) and does not come back. Past FLEETCMD_NODE_LOST_SECONDS
 * without a heartbeat the scheduler ends its Running runs Error and its Stopping runs
 * Terminated, both `ClientNotResponse`. An agent that comes back on the same boot leaves them
 * final, runs nothing twice and kills what is left of them; one on a new boot leaves them final.
 * Bounds are hang bounds only: every wait is on a status or a process changing.
 */
const LOST_SECONDS = 5;
/** Generous: the lost deadline, plus upkeep passes, on a loaded 2-core box. */

/** A process that exists and is not a zombie, read from /proc. */
async function running(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  if (stat === '') return false;
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0] !== 'Z';
}

async function pidsIn(file: string): Promise<number[]> {
  return (await readFile(file, 'utf8').catch(() => '')).split('\n').filter(Boolean).map(Number);
}

/** The node's row of an invocation. */
async function nodeRow(call: Call, invokeId: string) {
  return (await describeOne(call, invokeId))?.InvokeNodes.InvokeNode[0];
}

async function waitStatus(call: Call, invokeId: string, status: string): Promise<void> {
  await waitFor(
    `${invokeId} to be ${status}`,
    async () => (await nodeRow(call, invokeId))?.InvocationStatus === status,
    HANG_MS,
  );
}

/** Waits for the first `sleep` pid a command wrote to `file`; it is killed after the suite. */
async function sleepStarted(fx: FaultFixture, file: string, what: string): Promise<number> {
  const [pid] = await waitFor(
    what,
    async () => {
      const found = await pidsIn(file);
      return found.length > 0 && found;
    },
    HANG_MS,
  );
  assert.ok(pid !== undefined);
  fx.pids.push(pid);
  return pid;
}

/**
 * Starts a command on `nodeId` that logs one line per execution to runs.log and leaves a
 * `sleep` (its pid in <nodeId>.pids) that would outlive a dead agent; resolves once it runs.
 */
async function startSleeper(
  fx: FaultFixture,
  call: Call,
  nodeId: string,
  extra: Record<string, unknown> = {},
): Promise<{ invokeId: string; sleepPid: number }> {
  const pids = join(fx.dir, `${nodeId}.pids`);
  const res = await call('RunCommand', {
    NodeIdList: [nodeId],
    CommandContent: `echo "$FLEETCMD_INVOKE_ID ${nodeId}" >> ${join(fx.dir, 'runs.log')}; sleep 1000 & echo $! >> ${pids}; wait`,
    ...extra,
  });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  const invokeId = res.body.InvokeId as string;
  const sleepPid = await sleepStarted(fx, pids, `the command on ${nodeId} to start`);
  return { invokeId, sleepPid };
}

void describe('fault: a node whose agent is gone for good', () => {
  const fx = useFaultFixture({
    FLEETCMD_NODE_LOST_SECONDS: String(LOST_SECONDS),
    FLEETCMD_DELIVERY_TIMEOUT_SECONDS: '30',
    FLEETCMD_MIN_INTERVAL_SECONDS: '1',
  });
  let server: FleetServer;
  let call: Call;

  before(async () => {
    server = await startFleetServer(fx.env);
    call = apiFor(() => server.url, fx.env);
  });

  void it('a Running run ends Error (ClientNotResponse); a new boot leaves it so', async () => {
    const agent = await startFleetAgent('nl1', fx.env);
    const { invokeId, sleepPid } = await startSleeper(fx, call, 'nl1');
    await waitStatus(call, invokeId, 'Running');
    await agent.kill();

    await waitStatus(call, invokeId, 'Error');
    const row = await nodeRow(call, invokeId);
    assert.equal(row?.ErrorCode, 'ClientNotResponse');
    assert.match(
      row?.ErrorInfo ?? '',
      /the agent on node nl1 stopped responding \(last heartbeat \d{4}-\d\d-\d\dT[^,]+Z, \d+ s ago\)/,
    );
    assert.ok(await running(sleepPid), 'the node is up: its orphaned command still runs');

    // A new boot: nothing of the old one runs any more; the run stays as the server ended it.
    await startFleetAgent('nl1', { ...fx.env, FLEETCMD_BOOT_ID: 'nl1-second-boot' });
    const r = probe(fx.env.REDIS_URL ?? '');
    try {
      const active = new Keys(fx.env.FLEETCMD_PREFIX ?? '').nodeActive('nl1');
      await waitFor(
        'the new boot to clear the active runs',
        async () => (await r.scard(active)) === 0,
        HANG_MS,
      );
    } finally {
      r.disconnect();
    }
    const after = await nodeRow(call, invokeId);
    assert.equal(after?.InvocationStatus, 'Error');
    assert.equal(after?.ErrorCode, 'ClientNotResponse');
    assert.equal((await diskCounts(join(fx.dir, 'runs.log'))).get(`${invokeId} nl1`), 1);
  });

  void it('StopInvocation on it: Stopping, then Terminated (ClientNotResponse)', async () => {
    const agent = await startFleetAgent('nl2', fx.env);
    const { invokeId } = await startSleeper(fx, call, 'nl2');
    await waitStatus(call, invokeId, 'Running');
    await agent.kill();
    const stop = await call('StopInvocation', { InvokeId: invokeId });
    assert.equal(stop.status, 200, JSON.stringify(stop.body));
    assert.equal((await nodeRow(call, invokeId))?.InvocationStatus, 'Stopping');

    await waitStatus(call, invokeId, 'Terminated');
    const row = await nodeRow(call, invokeId);
    assert.equal(row?.ErrorCode, 'ClientNotResponse');
    assert.match(row?.ErrorInfo ?? '', /the agent on node nl2 stopped responding/);
  });

  void it('the agent comes back on the same boot: the run stays final, runs once, its orphan is killed', async () => {
    const runs = join(fx.dir, 'runs.log');
    const agent = await startFleetAgent('nl3', fx.env);
    const { invokeId, sleepPid } = await startSleeper(fx, call, 'nl3');
    await waitStatus(call, invokeId, 'Running');
    await agent.kill();
    await waitStatus(call, invokeId, 'Error');
    assert.ok(await running(sleepPid), 'orphaned while the agent is away');

    await startFleetAgent('nl3', fx.env);
    await waitFor(
      'the orphaned sleep to be killed',
      async () => !(await running(sleepPid)),
      HANG_MS,
    );
    const row = await nodeRow(call, invokeId);
    assert.equal(row?.InvocationStatus, 'Error');
    assert.equal(row?.ErrorCode, 'ClientNotResponse', 'the server’s end stands');
    assert.equal(row?.Repeats, 1);

    // The agent takes work again, and nothing ran twice.
    const later = await call('RunCommand', {
      NodeIdList: ['nl3'],
      CommandContent: `echo "$FLEETCMD_INVOKE_ID nl3" >> ${runs}`,
    });
    const laterId = later.body.InvokeId as string;
    assert.equal((await waitAllFinal(call, [laterId], HANG_MS)).get(`${laterId} nl3`), 'Success');
    const counts = await diskCounts(runs);
    assert.equal(counts.get(`${invokeId} nl3`), 1, 'the lost run ran once');
    assert.equal(counts.get(`${laterId} nl3`), 1);
  });

  void it('a boot run ended as lost goes back to Scheduled; the same boot again kills its orphan', async () => {
    // EveryReboot: nothing fires between the loss and the agent's return (no new boot), so the
    // record still names the lost run's process when the agent comes back.
    const first = await startFleetAgent('nl4', { ...fx.env, FLEETCMD_BOOT_ID: 'nl4-boot-1' });
    const pids = join(fx.dir, 'nl4.pids');
    const res = await call('RunCommand', {
      NodeIdList: ['nl4'],
      RepeatMode: 'EveryReboot',
      CommandContent: `sleep 1000 & echo $! >> ${pids}; wait`,
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const invokeId = res.body.InvokeId as string;
    await waitStatus(call, invokeId, 'Scheduled');
    await first.kill();
    const agent = await startFleetAgent('nl4', { ...fx.env, FLEETCMD_BOOT_ID: 'nl4-boot-2' });
    const sleepPid = await sleepStarted(fx, pids, 'the boot run to start');
    await waitStatus(call, invokeId, 'Running');
    await agent.kill();

    await waitFor(
      'the lost run in the history',
      async () => {
        const rows = await allResults(call, invokeId, { NodeId: 'nl4' });
        return rows.some((x) => x.ErrorCode === 'ClientNotResponse');
      },
      HANG_MS,
    );
    assert.equal((await nodeRow(call, invokeId))?.InvocationStatus, 'Scheduled');
    assert.ok(await running(sleepPid));

    await startFleetAgent('nl4', { ...fx.env, FLEETCMD_BOOT_ID: 'nl4-boot-2' });
    await waitFor(
      'the orphaned sleep to be killed',
      async () => !(await running(sleepPid)),
      HANG_MS,
    );
    assert.equal((await pidsIn(pids)).length, 1, 'ran once: the same boot fires nothing again');
    const stop = await call('StopInvocation', { InvokeId: invokeId });
    assert.equal(stop.status, 200, JSON.stringify(stop.body));
  });
});
