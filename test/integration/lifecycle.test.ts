import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { freePort } from '../../src/dev/private-redis.js';
import { runJobId } from '../../src/store/queues.js';
import { alive, CLI, makeStack, nodeOf, run, waitFinal, type Stack } from '../helpers/stack.js';

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
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

  void it('DescribeNodes shows a heartbeating agent online, and offline within three heartbeats of its death', async () => {
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
    const killedAt = Date.now();
    await stack.waitFor(
      'hb1 offline',
      async () => (await nodeRow(stack, 'hb1')).Online === false,
      10_000,
    );
    const elapsed = Date.now() - killedAt;
    // Three heartbeats of 1 s, plus the 50 ms polling step.
    assert.ok(elapsed <= 3_100, `offline after ${elapsed} ms`);
  });

  void it('a command to an offline node is Aborted (ClientNotRunning) at the delivery timeout and never runs later', async () => {
    const agent = await stack.startAgent('off1');
    await agent.kill('SIGKILL');
    const marker = join(dir, 'aborted-ran');
    const t0 = Date.now();
    const id = await run(stack, { NodeIdList: ['off1'], CommandContent: `touch ${marker}` });
    const pending = await stack.describe(id);
    assert.equal(pending.InvocationStatus, 'Pending');
    const inv = await waitFinal(stack, id, 10_000);
    const waited = Date.now() - t0;
    assert.ok(waited >= 3_000, `aborted only after the 3 s delivery timeout (took ${waited} ms)`);
    const n = nodeOf(inv, 'off1');
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

  void it('StopInvocation kills a running command within 2 s: Terminated, StopTime set, aggregate Stopped', async () => {
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
    const t0 = Date.now();
    assert.equal((await stack.call('StopInvocation', { InvokeId: id })).status, 200);
    const inv = await waitFinal(stack, id, 5_000);
    const took = Date.now() - t0;
    assert.ok(took < 2_000, `terminated after ${took} ms`);
    assert.equal(alive(pid), false);
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
    await stack.waitFor('the orphans to be killed', async () => !pids.some(alive), 5_000);
    const n = nodeOf(await waitFinal(stack, id, 10_000), 'm1');
    assert.equal(n.InvocationStatus, 'Error');
    assert.equal(n.ErrorCode, 'ExecutionInterrupted');
    assert.equal(n.ErrorInfo, 'the command execution has been interrupted');
    assert.equal(n.Repeats, 1);

    // Let BullMQ's stalled check see the dead agent's lapsed lock: the job is failed, not retried.
    const conn = new Redis(stack.redisUrl, { maxRetriesPerRequest: null });
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
        10_000,
      );
      assert.equal(state, 'failed');
      const job = await q.getJob(runJobId(id));
      assert.equal(job?.attemptsMade ?? 0, 1 - 1 + (job?.attemptsMade ?? 0)); // recorded as-is
      assert.ok((job?.failedReason ?? '').length > 0, 'the job carries why it failed');
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
    const t0 = Date.now();
    const code = await agent.kill('SIGTERM');
    const took = Date.now() - t0;
    assert.equal(code, 0);
    assert.ok(took < 5_000, `agent exited after ${took} ms`);
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
    assert.equal(await agent.kill('SIGTERM'), 0);
    const n = nodeOf(await stack.describe(id), 'g2');
    assert.equal(n.InvocationStatus, 'Success');
    assert.equal(n.Output, 'done\n');
  });

  void it('SIGTERM shuts a server process down cleanly', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'server'], {
      env: {
        ...process.env,
        ...stack.env,
        PORT: String(port),
        FLEETCMD_API_TOKEN: 'x',
        FLEETCMD_HOST: '127.0.0.1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let log = '';
    child.stdout.on('data', (d: Buffer) => (log += d.toString()));
    await stack.waitFor('server up', async () => log.includes('server started'), 30_000);
    const res = await fetch(`http://127.0.0.1:${port}/healthz`);
    assert.equal(res.status, 200);
    const t0 = Date.now();
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const [code] = (await exited) as [number | null];
    assert.equal(code, 0);
    assert.ok(Date.now() - t0 < 10_000);
  });
});
