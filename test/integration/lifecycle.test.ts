import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Queue } from 'bullmq';
import { runJobId } from '../../src/store/queues.js';
import { makeRedis } from '../../src/store/redis.js';
import { HANG_MS, hangBound, startedUrl } from '../helpers/hang.js';
import { alive, CLI, makeStack, nodeOf, run, waitFinal, type Stack } from '../helpers/stack.js';

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** `fleetcmd server` as a child process on PORT=0, at the URL its log says it bound. */
async function startServerProcess(
  stack: Stack,
): Promise<{ child: ReturnType<typeof spawn>; url: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'server'], {
    env: {
      ...process.env,
      ...stack.env,
      PORT: '0',
      FLEETCMD_API_TOKEN: 'x',
      FLEETCMD_HOST: '127.0.0.1',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stdout.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr.on('data', (d: Buffer) => (log += d.toString()));
  const url = await stack.waitFor(
    'the server to start',
    async () => {
      if (child.exitCode !== null || child.signalCode !== null)
        throw new Error(`server exited: ${log}`);
      return startedUrl(log);
    },
    HANG_MS,
  );
  return { child, url };
}

async function nodeRow(stack: Stack, nodeId: string): Promise<Record<string, unknown>> {
  const res = await stack.call('DescribeNodes', { NodeId: nodeId });
  assert.equal(res.status, 200);
  const row = (res.body.Nodes as { Node: Record<string, unknown>[] }).Node[0];
  assert.ok(row, `node ${nodeId} listed`);
  return row;
}

void describe('node lifecycle, stop, delivery timeout and at-most-once', () => {
  let stack: Stack;
  let dir: string;
  const orphans: number[] = [];

  before(async () => {
    stack = await makeStack();
    dir = await mkdtemp(join(tmpdir(), 'fleetcmd-life-'));
  });
  after(async () => {
    for (const pid of orphans) if (alive(pid)) process.kill(pid, 'SIGKILL');
    await stack.close();
    await rm(dir, { recursive: true, force: true });
  });

  void it('DescribeNodes shows a heartbeating agent online, and offline after its death', async () => {
    const agent = await stack.startAgent('hb1');
    const row = await nodeRow(stack, 'hb1');
    assert.equal(row.Online, true);
    assert.match(String(row.LastHeartbeatTime), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.equal(row.AgentVersion, '0.1.0');
    assert.equal(typeof row.Hostname, 'string');
    assert.equal(row.OsType, 'Linux');
    assert.ok(String(row.TimeZone).length > 0);
    assert.match(String(row.BootTime), /Z$/);
    assert.equal(row.ActiveTaskCount, 0);
    assert.equal(row.InvocationCount, 0);
    // The registry is filled from the agents' announcements.
    const all = await stack.call('DescribeNodes', {});
    assert.ok(
      (all.body.Nodes as { Node: { NodeId: string }[] }).Node.some((n) => n.NodeId === 'hb1'),
    );

    await agent.kill('SIGKILL');
    // How soon is a benchmark's question (bench: node-offline-detection), not this test's.
    const offline = await stack.waitFor(
      'hb1 offline',
      async () => {
        const r = await nodeRow(stack, 'hb1');
        return r.Online === false ? r : undefined;
      },
      HANG_MS,
    );
    assert.equal(offline.NodeId, 'hb1');
  });

  void it('a command to an offline node is Aborted (ClientNotRunning) at the delivery timeout and never runs later', async () => {
    const agent = await stack.startAgent('off1');
    await agent.kill('SIGKILL');
    const marker = join(dir, 'aborted-ran');
    const id = await run(stack, { NodeIdList: ['off1'], CommandContent: `touch ${marker}` });
    const pending = await stack.describe(id);
    assert.equal(pending.InvocationStatus, 'Pending');
    const inv = await waitFinal(stack, id, HANG_MS);
    const n = nodeOf(inv, 'off1');
    // Aborted at the delivery timeout, not before: read from the times the server recorded
    // (whole seconds; flooring both never makes the difference smaller than the real one's floor).
    const recorded = (Date.parse(n.FinishTime) - Date.parse(inv.CreationTime)) / 1000;
    assert.ok(
      recorded >= stack.config.deliveryTimeoutSeconds,
      `aborted ${recorded} s after creation (${inv.CreationTime} -> ${n.FinishTime})`,
    );
    assert.equal(n.InvocationStatus, 'Aborted');
    assert.equal(n.ErrorCode, 'ClientNotRunning');
    assert.equal(n.ErrorInfo, 'the aliyun service is not running on the instance');
    assert.equal(inv.InvocationStatus, 'Failed');
    assert.equal(n.Repeats, 0);

    // The agent comes back: the stale job must not run.
    await stack.startAgent('off1');
    const probe = await run(stack, { NodeIdList: ['off1'], CommandContent: 'true' });
    await waitFinal(stack, probe);
    assert.equal(await exists(marker), false);
    assert.equal(nodeOf(await stack.describe(id), 'off1').InvocationStatus, 'Aborted');
  });

  void it('StopInvocation cancels a node that has not started; it never runs afterwards', async () => {
    const agent = await stack.startAgent('c1');
    await agent.kill('SIGKILL');
    const marker = join(dir, 'cancelled-ran');
    const id = await run(stack, { NodeIdList: ['c1'], CommandContent: `touch ${marker}` });
    const res = await stack.call('StopInvocation', { InvokeId: id });
    assert.equal(res.status, 200);
    const inv = await stack.describe(id);
    const n = nodeOf(inv, 'c1');
    assert.equal(n.InvocationStatus, 'Cancelled');
    assert.match(n.StopTime, /Z$/);
    assert.equal(n.StartTime, '');
    assert.equal(inv.InvocationStatus, 'Stopped');
    assert.equal(inv.InvokeStatus, 'Stopped');
    await stack.startAgent('c1');
    const probe = await run(stack, { NodeIdList: ['c1'], CommandContent: 'true' });
    await waitFinal(stack, probe);
    assert.equal(await exists(marker), false);
    // Stopping again changes nothing.
    assert.equal((await stack.call('StopInvocation', { InvokeId: id })).status, 200);
    assert.equal(nodeOf(await stack.describe(id), 'c1').InvocationStatus, 'Cancelled');
  });

  void it('StopInvocation kills a running command: Terminated, StopTime set, aggregate Stopped', async () => {
    await stack.startAgent('s1');
    const pidFile = join(dir, 'stop.pid');
    const id = await run(stack, {
      NodeIdList: ['s1'],
      CommandContent: `echo $$ > ${pidFile}; echo running; sleep 300`,
    });
    await stack.waitFor(
      'running',
      async () => nodeOf(await stack.describe(id), 's1').Output === 'running\n',
    );
    const pid = Number((await readFile(pidFile, 'utf8')).trim());
    assert.equal((await stack.call('StopInvocation', { InvokeId: id })).status, 200);
    // How soon is a benchmark's question (bench: stop-to-terminated), not this test's.
    const inv = await waitFinal(stack, id, HANG_MS);
    await stack.waitFor('the stopped shell to be gone', async () => !alive(pid), HANG_MS);
    const n = nodeOf(inv, 's1');
    assert.equal(n.InvocationStatus, 'Terminated');
    assert.equal(n.ExitCode, 137);
    assert.match(n.StopTime, /Z$/);
    assert.match(n.FinishTime, /Z$/);
    assert.equal(n.NodeInvokeStatus, 'Stopped');
    assert.equal(inv.InvocationStatus, 'Stopped');
  });

  void it('at most once: an agent killed mid-run reports Error (interrupted) after restart, and the run never repeats', async () => {
    const env = { FLEETCMD_AGENT_LOCK_SECONDS: '1' };
    const agent = await stack.startAgent('m1', env);
    const count = join(dir, 'runs.log');
    const pidFile = join(dir, 'once.pid');
    const id = await run(stack, {
      NodeIdList: ['m1'],
      // The shell, a child in its process group, and one that left the group (setsid).
      CommandContent:
        `echo run >> ${count}; echo $$ > ${pidFile}; sleep 60 & echo $! >> ${pidFile}; ` +
        `setsid sleep 61 & echo $! >> ${pidFile}; wait`,
    });
    await stack.waitFor('the command to start', async () =>
      (await exists(pidFile))
        ? (await readFile(pidFile, 'utf8')).split('\n').filter(Boolean).length === 3
        : false,
    );
    const pids = (await readFile(pidFile, 'utf8')).split('\n').filter(Boolean).map(Number);
    orphans.push(...pids);
    await agent.kill('SIGKILL');
    // The command outlives its agent for now...
    assert.ok(pids.every(alive), 'the orphaned shell and its children still run');
    await stack.startAgent('m1', env);
    // ...until the agent's next life reports it interrupted and kills what is left of it, in
    // its process group or not (by its run token).
    await stack.waitFor('the orphans to be killed', async () => !pids.some(alive), HANG_MS);
    const n = nodeOf(await waitFinal(stack, id, HANG_MS), 'm1');
    assert.equal(n.InvocationStatus, 'Error');
    assert.equal(n.ErrorCode, 'ExecutionInterrupted');
    assert.equal(n.ErrorInfo, 'the command execution has been interrupted');
    assert.equal(n.Repeats, 1);

    // Let BullMQ's stalled check see the dead agent's lapsed lock: the job is failed, not retried.
    const conn = makeRedis(stack.redisTarget, 'worker', 'test');
    const q = new Queue(stack.keys.nodeQueueName('m1'), {
      connection: conn,
      prefix: stack.keys.nodeQueuePrefix(),
    });
    try {
      const state = await stack.waitFor(
        'the stalled job to be failed',
        async () => {
          const s = await q.getJobState(runJobId(id));
          return s === 'failed' || s === 'unknown' ? s : undefined;
        },
        HANG_MS,
      );
      assert.equal(state, 'failed');
      const job = await q.getJob(runJobId(id));
      assert.ok(job, 'the failed job is kept');
      // Failed by the stalled check (its agent died holding it), with no retry left to take.
      assert.match(job.failedReason, /stalled/);
      assert.equal(job.opts.attempts, 1);
      assert.ok(job.attemptsMade <= 1, `attempts made: ${job.attemptsMade}`);
    } finally {
      await q.close();
      conn.disconnect();
    }
    assert.equal((await readFile(count, 'utf8')).split('\n').filter(Boolean).length, 1);
    assert.equal(nodeOf(await stack.describe(id), 'm1').InvocationStatus, 'Error');
  });

  void it('SIGTERM drains the agent: running commands get the grace period, then Error; the node goes offline at once', async () => {
    const agent = await stack.startAgent('g1', { FLEETCMD_AGENT_GRACE_SECONDS: '1' });
    const id = await run(stack, { NodeIdList: ['g1'], CommandContent: 'echo busy; sleep 60' });
    await stack.waitFor(
      'busy',
      async () => nodeOf(await stack.describe(id), 'g1').Output === 'busy\n',
    );
    const code = await hangBound('the agent to exit on SIGTERM', agent.kill('SIGTERM'));
    assert.equal(code, 0);
    const n = nodeOf(await stack.describe(id), 'g1');
    assert.equal(n.InvocationStatus, 'Error');
    assert.equal(n.ErrorInfo, 'the command execution has been interrupted');
    assert.equal((await nodeRow(stack, 'g1')).Online, false);
  });

  void it('SIGTERM lets a quick command finish within the grace period', async () => {
    const agent = await stack.startAgent('g2', { FLEETCMD_AGENT_GRACE_SECONDS: '10' });
    const id = await run(stack, { NodeIdList: ['g2'], CommandContent: 'sleep 1; echo done' });
    await stack.waitFor(
      'running',
      async () => nodeOf(await stack.describe(id), 'g2').InvocationStatus === 'Running',
    );
    assert.equal(await hangBound('the agent to exit on SIGTERM', agent.kill('SIGTERM')), 0);
    const n = nodeOf(await stack.describe(id), 'g2');
    assert.equal(n.InvocationStatus, 'Success');
    assert.equal(n.Output, 'done\n');
  });

  void it('SIGTERM shuts a server process down cleanly', async () => {
    const server = await startServerProcess(stack);
    const res = await fetch(`${server.url}/healthz`);
    assert.equal(res.status, 200);
    const exited = once(server.child, 'exit');
    server.child.kill('SIGTERM');
    const [code] = await hangBound('the server to exit on SIGTERM', exited);
    assert.equal(code, 0);
  });
});
