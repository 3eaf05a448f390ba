/**
 * Enrolment with real agent processes: `fleetcmd agent --register` trades an activation for
 * the node's own Redis user and keeps it in its state directory; an activation for 2 nodes
 * takes 2 agents and refuses the third; an expired or disabled one refuses an agent; a plain `fleetcmd agent` restarts from the state file;
 * a registered node's credentials reach nothing of other nodes (NOPERM); `fleetcmd node rotate`
 * gives a running agent a new password without a restart or a lost run; DeregisterNodes
 * cancels the node's unstarted runs, frees its place and stops its agent naming why.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { ActivationStore } from '../../src/store/activation-store.js';
import { credentialScope } from '../../src/store/node-acl.js';
import { nodeLogin } from '../helpers/enroll.js';
import { hangBound } from '../helpers/hang.js';
import { clientOf, onEachServer } from '../helpers/redis.js';
import {
  makeStack,
  nodeOf,
  run,
  runCli,
  spawnCli,
  waitFinal,
  type Stack,
} from '../helpers/stack.js';

const ADMIN = randomBytes(16).toString('hex');

interface Started {
  child: ReturnType<typeof spawnCli>['child'];
  done: ReturnType<typeof spawnCli>['done'];
  log: () => string;
}

void describe('agents enrolled with an activation', () => {
  let stack: Stack;
  const dirs: string[] = [];
  const agents: Started[] = [];
  let activation: { id: string; code: string };

  const stateDir = () => {
    const d = mkdtempSync(join(tmpdir(), 'fc-state-'));
    dirs.push(d);
    return join(d, 'state');
  };
  /** The agent's environment: nothing of the stack's (no admin Redis URL, no shared pass). */
  const agentEnv = (extra: Record<string, string> = {}) => ({
    REDIS_URL: undefined,
    FLEETCMD_PREFIX: undefined,
    FLEETCMD_NODE_ID: undefined,
    FLEETCMD_ALLOW_SHARED_CREDENTIALS: undefined,
    FLEETCMD_HEARTBEAT_SECONDS: '1',
    LOG_LEVEL: 'info',
    ...extra,
  });
  const startAgent = async (args: string[], env: Record<string, string> = {}) => {
    let log = '';
    const p = spawnCli(['agent', ...args], agentEnv(env), (c) => (log += c.toString()));
    p.child.stderr?.on('data', (d: Buffer) => (log += d.toString()));
    const started: Started = { ...p, log: () => log };
    agents.push(started);
    await stack.waitFor(
      'the agent to start',
      async () => {
        if (p.child.exitCode !== null) throw new Error(`agent exited: ${log}`);
        return log.includes('"agent started"');
      },
      60_000,
    );
    return started;
  };
  const registerArgs = (dir: string, a = activation) => [
    '--register',
    '--url',
    stack.url,
    '--activation-id',
    a.id,
    '--activation-code',
    a.code,
    '--state-dir',
    dir,
  ];
  const state = (dir: string) =>
    JSON.parse(readFileSync(join(dir, 'agent.json'), 'utf8')) as Record<string, string>;
  const describeActivation = async () => {
    const r = await stack.call(
      'DescribeActivations',
      { ActivationId: activation.id },
      { token: ADMIN },
    );
    return (r.body.ActivationList as Record<string, unknown>[])[0] ?? {};
  };

  const dirA = () => (dirs[0] ? join(dirs[0], 'state') : '');
  let nodeA = '';
  let nodeB = '';
  let dirOfB = '';

  before(async () => {
    stack = await makeStack({ FLEETCMD_API_TOKENS: `ops:admin:${ADMIN}` });
    const r = await stack.call(
      'CreateActivation',
      { InstanceCount: 2, InstanceName: 'web', IpAddressRange: '127.0.0.0/8' },
      { token: ADMIN },
    );
    assert.equal(r.status, 200, JSON.stringify(r.body));
    activation = { id: String(r.body.ActivationId), code: String(r.body.ActivationCode) };
  });
  after(async () => {
    for (const a of agents) a.child.kill('SIGKILL');
    await stack.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  void it('an activation for 2 nodes registers 2 agents, which run commands; the third is refused', async () => {
    const a = await startAgent(registerArgs(stateDir()));
    dirOfB = stateDir();
    const b = await startAgent([...registerArgs(dirOfB), '--node-id', 'web-chosen']);
    nodeA = state(dirA()).NodeId ?? '';
    nodeB = state(dirOfB).NodeId ?? '';
    assert.match(nodeA, /^web-[0-9a-f]{6}$/);
    assert.equal(nodeB, 'web-chosen');
    assert.match(a.log(), /Redis credentials confined to this node/);
    assert.match(b.log(), /Redis credentials confined to this node/);
    // The state: directory 0700, file 0600, the node's own user.
    assert.equal(statSync(dirA()).mode & 0o777, 0o700);
    assert.equal(statSync(join(dirA(), 'agent.json')).mode & 0o777, 0o600);
    assert.equal(nodeLogin(stack, state(dirA())).username, stack.keys.nodeAclUser(nodeA));
    assert.equal(state(dirA()).Prefix, stack.prefix);

    const inv = await run(stack, { NodeIdList: [nodeA, nodeB], CommandContent: 'echo enrolled' });
    const done = await waitFinal(stack, inv, 60_000);
    for (const n of [nodeA, nodeB]) {
      assert.equal(nodeOf(done, n).InvocationStatus, 'Success');
      assert.equal(nodeOf(done, n).Output, 'enrolled\n');
    }
    assert.equal((await describeActivation()).RegisteredCount, 2);

    const third = stateDir();
    const refused = await hangBound(
      'the third agent',
      runCli(['agent', ...registerArgs(third)], agentEnv()),
    );
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, /registration refused \(403 Activation\.InstanceCountExceeded\)/);
    assert.throws(() => statSync(third), /ENOENT/, 'no state written');
    assert.equal((await describeActivation()).RegisteredCount, 2);
  });

  void it('an agent is refused by an expired and by a disabled activation, and writes no state', async () => {
    const made = async () => {
      const r = await stack.call('CreateActivation', { InstanceCount: 1 }, { token: ADMIN });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return { id: String(r.body.ActivationId), code: String(r.body.ActivationCode) };
    };
    const disabled = await made();
    const off = await stack.call(
      'DisableActivation',
      { ActivationId: disabled.id },
      { token: ADMIN },
    );
    assert.equal(off.status, 200, JSON.stringify(off.body));
    const expired = await made();
    await new ActivationStore(stack.redis, stack.keys).setExpiresMs(expired.id, Date.now() - 1000);
    for (const [a, code] of [
      [disabled, 'Activation.Disabled'],
      [expired, 'Activation.Expired'],
    ] as const) {
      const dir = stateDir();
      // The code from the environment (as the systemd unit passes it), not the command line.
      const args = registerArgs(dir, a).filter((x) => x !== '--activation-code' && x !== a.code);
      const refused = await hangBound(
        `the agent with a ${code} activation`,
        runCli(['agent', ...args, '--node-id', `refused-${code.length}`], {
          ...agentEnv(),
          FLEETCMD_ACTIVATION_CODE: a.code,
        }),
      );
      assert.equal(refused.code, 2, refused.stderr);
      assert.match(
        refused.stderr,
        new RegExp(`registration refused \\(403 ${code.replace('.', '\\.')}\\)`),
      );
      assert.throws(() => statSync(dir), /ENOENT/, 'no state written');
    }
    const users = (
      await onEachServer(stack.redis, (r) => r.call('ACL', 'USERS'))
    ).flat() as string[];
    assert.ok(!users.some((u) => u.includes('refused-')), users.join(' '));
  });

  void it("a registered node's credentials reach nothing of other nodes' (NOPERM)", async () => {
    const asA = clientOf(nodeLogin(stack, state(dirA())).target);
    try {
      const scope = await credentialScope(asA, stack.keys, nodeA);
      assert.equal(scope.confined, true, scope.reached.join('; '));
      const noperm = /NOPERM|can't access/;
      await assert.rejects(asA.hget(stack.keys.nodeInfo(nodeB), 'bootId'), noperm);
      await assert.rejects(asA.exists(stack.keys.activation(activation.id)), noperm);
      await assert.rejects(asA.exists(stack.keys.nodeEnrollment(nodeA)), noperm);
      await assert.rejects(asA.publish(stack.keys.nodeControlChannel(nodeB), 'stop x'), noperm);
      await assert.rejects(asA.call('ACL', 'LIST'), noperm);
      await assert.rejects(asA.keys('*'), noperm);
    } finally {
      asA.disconnect();
    }
  });

  void it('a plain `fleetcmd agent` restarts the node from its state file', async () => {
    const first = agents[0];
    assert.ok(first);
    first.child.kill('SIGTERM');
    await hangBound('agent A to stop', first.done);
    const again = await startAgent(['--state-dir', dirA()]);
    assert.match(again.log(), new RegExp(`"nodeId":"${nodeA}"`));
    // FLEETCMD_STATE_DIR works as well as the flag; neither the URL nor the code is needed.
    const inv = await run(stack, { NodeIdList: [nodeA], CommandContent: 'echo back' });
    assert.equal(nodeOf(await waitFinal(stack, inv, 60_000), nodeA).Output, 'back\n');
  });

  void it('node rotate gives a running agent a new password: its long command ends and reports', async () => {
    const gate = join(dirs[1] ?? tmpdir(), 'gate');
    const before = nodeLogin(stack, state(dirOfB)).password;
    const inv = await run(stack, {
      NodeIdList: [nodeB],
      CommandContent: `while [ ! -f ${gate} ]; do sleep 0.1; done; echo finished`,
      Timeout: 600,
    });
    await stack.waitFor(
      'the command to run',
      async () => {
        return nodeOf(await stack.describe(inv), nodeB).InvocationStatus === 'Running';
      },
      60_000,
    );
    const r = await hangBound(
      'node rotate',
      runCli(['node', 'rotate', nodeB, '--json'], stack.env),
    );
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { NodeId: nodeB, Rotated: true });
    const fresh = nodeLogin(stack, state(dirOfB)).password;
    assert.notEqual(fresh, before, 'the state file holds the new password');
    assert.equal(statSync(join(dirOfB, 'agent.json')).mode & 0o777, 0o600);
    // The old password is gone, the new one works.
    // On every server (a cluster's masters each hold the node's user).
    await onEachServer(stack.redis, async (server) => {
      const probe = new Redis({
        host: server.options.host,
        port: server.options.port,
        maxRetriesPerRequest: 1,
        enableReadyCheck: false,
      });
      try {
        const user = stack.keys.nodeAclUser(nodeB);
        await assert.rejects(probe.call('AUTH', user, before), /WRONGPASS/);
        assert.equal(String(await probe.call('AUTH', user, fresh)), 'OK');
      } finally {
        probe.disconnect();
      }
    });
    // Every connection of the agent reconnects now: each must use the new password.
    await onEachServer(stack.redis, (r) =>
      r.call('CLIENT', 'KILL', 'USER', stack.keys.nodeAclUser(nodeB)),
    );
    writeFileSync(gate, '');
    const done = await waitFinal(stack, inv, 60_000);
    assert.equal(nodeOf(done, nodeB).InvocationStatus, 'Success');
    assert.equal(nodeOf(done, nodeB).Output, 'finished\n');
    const next = await run(stack, { NodeIdList: [nodeB], CommandContent: 'echo after' });
    assert.equal(nodeOf(await waitFinal(stack, next, 60_000), nodeB).Output, 'after\n');
    assert.doesNotMatch(agents[1]?.log() ?? '', /WRONGPASS|refused node/);
  });

  void it('DeregisterNodes cancels unstarted runs, frees the place, and the agent stops naming why', async () => {
    // Concurrency 1: a second command waits (Pending) behind the first.
    const current = agents[agents.length - 1];
    assert.ok(current);
    current.child.kill('SIGTERM');
    await hangBound('agent A to stop', current.done);
    const a = await startAgent(['--state-dir', dirA()], { FLEETCMD_AGENT_CONCURRENCY: '1' });
    const long = await run(stack, {
      NodeIdList: [nodeA],
      CommandContent: 'sleep 600',
      Timeout: 900,
    });
    await stack.waitFor(
      'the first to run',
      async () => {
        return nodeOf(await stack.describe(long), nodeA).InvocationStatus === 'Running';
      },
      60_000,
    );
    const queued = await run(stack, { NodeIdList: [nodeA], CommandContent: 'echo never' });
    const exited = once(a.child, 'exit');
    const r = await stack.call('DeregisterNodes', { NodeId: [nodeA] }, { token: ADMIN });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const [row] = r.body.Nodes as Record<string, unknown>[];
    assert.equal(row?.Removed, true);
    assert.equal(row?.ActivationId, activation.id);
    const [code] = (await hangBound('the agent to stop', exited).catch((err: unknown) => {
      throw new Error(`${String(err)}\n${a.log()}`);
    })) as [number | null];
    assert.equal(code, 78);
    assert.match(a.log(), new RegExp(`node ${nodeA} was deregistered`));
    assert.equal(nodeOf(await stack.describe(queued), nodeA).InvocationStatus, 'Cancelled');
    assert.equal(await stack.redis.call('ACL', 'GETUSER', stack.keys.nodeAclUser(nodeA)), null);
    const row2 = await describeActivation();
    assert.equal(row2.RegisteredCount, 2);
    assert.equal(row2.DeregisteredCount, 1);
    // The place is free again: a new node registers with the same activation.
    await startAgent(registerArgs(stateDir()));
    // A plain restart of the deregistered node is refused naming why, and does not loop.
    const restarted = await hangBound(
      'the removed node',
      runCli(['agent', '--state-dir', dirA()], agentEnv()),
    );
    assert.notEqual(restarted.code, 0);
    assert.match(restarted.stdout + restarted.stderr, /WRONGPASS|refused|deregistered/);
  });
});
