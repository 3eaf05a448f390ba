/**
 * Per-node agent credentials, on a real redis-server with real agent processes: `fleetcmd node
 * add` (or RegisterNode, with an activation) makes a Redis ACL user per node, an agent runs under it end to end (one-off run, stop,
 * boot run) without one refused command, and node A's user gets NOPERM on everything of node
 * B's and on everything global.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { AgentStore } from '../../src/store/agent-store.js';
import type { RedisClient } from '../../src/store/redis.js';
import { waitReady } from '../../src/store/redis.js';
import { loadConfig } from '../../src/shared/config.js';
import { clientOf, onEachServer } from '../helpers/redis.js';
import { enrollNode } from '../helpers/enroll.js';
import { HANG_MS } from '../helpers/hang.js';
import { CLI, makeStack, nodeOf, run, runCli, waitFinal, type Stack } from '../helpers/stack.js';

const cli = runCli;

interface NodeSettings {
  NodeId: string;
  Username: string;
  /** REDIS_URL, or on a cluster REDIS_CLUSTER_NODES, REDIS_USERNAME and REDIS_PASSWORD. */
  settings: Record<string, string> & { FLEETCMD_NODE_ID: string; FLEETCMD_PREFIX: string };
}

/** The URL of one server (the first of a cluster) with the node's credentials. */
function serverUrl(s: NodeSettings): string {
  const target = loadConfig(s.settings).redis;
  if (target.kind === 'url') return target.url;
  const url = new URL(`redis://${target.nodes[0]!.host}:${target.nodes[0]!.port}`);
  url.username = target.username ?? '';
  url.password = target.password ?? '';
  return url.toString();
}

/** A client of the node's Redis (a Cluster client on a cluster) with its credentials. */
async function connectAs(s: NodeSettings): Promise<RedisClient> {
  const c = clientOf(loadConfig(s.settings).redis);
  c.on('error', () => undefined);
  await waitReady(c, 10_000);
  return c;
}

async function nodeAdd(stack: Stack, nodeId: string, extra: string[] = []): Promise<NodeSettings> {
  const r = await cli(['node', 'add', nodeId, '--json', ...extra], stack.env);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as NodeSettings;
}

/**
 * Asserts the promise is refused by Redis's ACL, not failed for any other reason: NOPERM, or
 * inside a script the message Redis gives a call on a key the user may not access.
 */
async function noperm(what: string, p: Promise<unknown>): Promise<void> {
  await assert.rejects(p, (err: Error) => {
    assert.match(
      err.message,
      /NOPERM|user executing the script can't access/,
      `${what}: ${err.message}`,
    );
    return true;
  });
}

/** ACL LOG entries (denials) of one user, as objects. */
async function aclDenials(admin: RedisClient, username: string): Promise<Record<string, string>[]> {
  const logs = await onEachServer(admin, (s) => s.call('ACL', 'LOG', '1000'));
  return (logs as unknown[][][])
    .flat()
    .map((entry) => {
      const o: Record<string, string> = {};
      for (let i = 0; i + 1 < entry.length; i += 2) o[String(entry[i])] = String(entry[i + 1]);
      return o;
    })
    .filter((o) => o.username === username);
}

/** How node A gets its user: `fleetcmd node add`, or an agent's RegisterNode (an activation). */
type Enrollment = 'node add' | 'RegisterNode';

const ADMIN = randomBytes(16).toString('hex');

/** Node A's settings as RegisterNode answers them, for an activation made for it. */
async function registerNode(stack: Stack, nodeId: string): Promise<NodeSettings> {
  const r = await enrollNode(stack, ADMIN, nodeId);
  return {
    NodeId: r.NodeId,
    Username: r.Username,
    settings: { ...r.redisEnv, FLEETCMD_NODE_ID: r.NodeId, FLEETCMD_PREFIX: r.Prefix },
  };
}

// The same guarantees whichever way node A got its user.
for (const enroll of ['node add', 'RegisterNode'] as const) aclSuite(enroll);

function aclSuite(enroll: Enrollment): void {
  void describe(`per-node agent credentials (Redis ACL), node A made by ${enroll}`, () => {
    let stack: Stack;
    let a: NodeSettings;
    let b: NodeSettings;
    /** A raw connection with node A's credentials: what a compromised node A could do. */
    let asA: RedisClient;

    before(async () => {
      stack = await makeStack({ FLEETCMD_API_TOKENS: `ops:admin:${ADMIN}` });
      await onEachServer(stack.redis, (s) => s.call('ACL', 'LOG', 'RESET'));
      a =
        enroll === 'node add' ? await nodeAdd(stack, 'acl-a') : await registerNode(stack, 'acl-a');
      b = await nodeAdd(stack, 'acl-b');
      asA = await connectAs(a);
    });

    after(async () => {
      asA.disconnect();
      await stack.close();
    });

    /** Starts an agent with only its node's settings (and without the shared-credentials pass). */
    const startAgent = (s: NodeSettings, env: Record<string, string> = {}) =>
      stack.startAgent(s.NodeId, {
        ...s.settings,
        FLEETCMD_ALLOW_SHARED_CREDENTIALS: 'false',
        ...env,
      });

    void it(`${enroll} gives the settings of a user confined to the node`, async () => {
      assert.equal(a.NodeId, 'acl-a');
      assert.equal(a.settings.FLEETCMD_NODE_ID, 'acl-a');
      assert.equal(a.settings.FLEETCMD_PREFIX, stack.prefix);
      const url = new URL(serverUrl(a));
      assert.equal(url.username, a.Username);
      assert.ok(url.password.length >= 40, 'a 256-bit password');
      assert.equal(String(await asA.call('ACL', 'WHOAMI')), a.Username);
      // Only the digest is stored: ACL GETUSER shows no password text.
      // On every server (a cluster's ACL users are per server).
      const users = await onEachServer(stack.redis, (s) => s.call('ACL', 'GETUSER', a.Username));
      assert.ok(
        users.every((u) => u !== null),
        'the user is on every server',
      );
      const user = JSON.stringify(users);
      assert.ok(!user.includes(url.password), 'the password is not stored in Redis');
      // Without --rotate, a second add changes nothing.
      const again = await cli(['node', 'add', 'acl-a'], stack.env);
      assert.equal(again.code, 2);
      assert.match(again.stderr, /already has a Redis user.*--rotate/);
      assert.equal(String(await asA.ping()), 'PONG');
    });

    void it('agents under their own users run, stop, crash and boot with no command refused', async () => {
      // A 2 s lock: BullMQ renews it every second while a job runs, and its stalled checker
      // (which fails a dead agent's job) runs every 2 s, so those paths run under the ACL too.
      const fastLocks = { FLEETCMD_AGENT_LOCK_SECONDS: '2' };
      const agentA = await startAgent(a, { FLEETCMD_BOOT_ID: 'boot-1', ...fastLocks });
      const agentB = await startAgent(b);
      assert.match(agentA.log(), /Redis credentials confined to this node/);

      // Registration reaches the global node registry through the server (announce channel).
      await stack.waitFor('both nodes listed', async () => {
        const r = await stack.call('DescribeNodes', {});
        const ids = (r.body.Nodes as { Node: { NodeId: string }[] }).Node.map((n) => n.NodeId);
        return ids.includes('acl-a') && ids.includes('acl-b');
      });

      const once = await run(stack, {
        NodeIdList: ['acl-a', 'acl-b'],
        CommandContent: 'echo hello from $0; sleep 3',
      });
      const done = await waitFinal(stack, once);
      for (const id of ['acl-a', 'acl-b']) {
        assert.equal(nodeOf(done, id).InvocationStatus, 'Success', id);
        assert.match(nodeOf(done, id).Output ?? '', /hello from/);
      }

      // Stop reaches the agent on its control channel.
      const long = await run(stack, { NodeIdList: ['acl-a'], CommandContent: 'sleep 30' });
      await stack.waitFor(
        'running',
        async () => nodeOf(await stack.describe(long), 'acl-a').InvocationStatus === 'Running',
      );
      assert.equal((await stack.call('StopInvocation', { InvokeId: long })).status, 200);
      const stopped = await waitFinal(stack, long);
      assert.equal(nodeOf(stopped, 'acl-a').InvocationStatus, 'Terminated');

      // A boot run is enqueued by the agent itself, on its own queue.
      const boot = await run(stack, {
        NodeIdList: ['acl-a'],
        CommandContent: 'echo booted',
        RepeatMode: 'NextRebootOnly',
      });
      // The agent dies mid-run: its successor reports the run interrupted, and BullMQ's stalled
      // check (in the successor) fails the job once the dead agent's lock lapses.
      const crashed = await run(stack, { NodeIdList: ['acl-a'], CommandContent: 'sleep 4' });
      await stack.waitFor(
        'running',
        async () => nodeOf(await stack.describe(crashed), 'acl-a').InvocationStatus === 'Running',
      );
      await agentA.kill('SIGKILL');
      const rebooted = await startAgent(a, { FLEETCMD_BOOT_ID: 'boot-2', ...fastLocks });
      const interrupted = nodeOf(await waitFinal(stack, crashed), 'acl-a');
      assert.equal(interrupted.InvocationStatus, 'Error');
      const failedSet = `${stack.keys.nodeQueuePrefix()}:${stack.keys.nodeQueueName('acl-a')}:failed`;
      await stack.waitFor(
        'the stalled job to be failed',
        async () => (await stack.redis.zscore(failedSet, `r-${crashed}`)) !== null,
        // Two stalled checks (10 lock durations apart) after the lock lapsed, on a busy machine.
        2 * HANG_MS,
      );
      const bootRun = await stack.waitFor('the boot run', async () => {
        const n = nodeOf(await stack.describe(boot), 'acl-a');
        return n.InvocationStatus === 'Success' ? n : undefined;
      });
      assert.match(bootRun.Output ?? '', /booted/);
      await rebooted.kill();
      await agentB.kill();

      // The only refusals the agents met were their own start-up probes (see credentialScope).
      for (const user of [a.Username, b.Username]) {
        const all = await aclDenials(stack.redis, user);
        const isProbe = (d: Record<string, string>) =>
          d.object?.includes('-acl-probe-') === true || d.object === stack.keys.invocationIndex();
        assert.ok(all.filter(isProbe).length >= 3, `the probes of ${user} are in the ACL log`);
        assert.deepEqual(
          all.filter((d) => !isProbe(d)),
          [],
          `commands refused to ${user}`,
        );
      }
    });

    void it("node A's credentials get NOPERM on node B's queue, records and channels", async () => {
      const k = stack.keys;
      const bInv = await run(stack, { NodeIdList: ['acl-b'], CommandContent: 'echo b-secret' });
      await stack.waitFor(
        'B has a run record',
        async () => (await stack.redis.exists(k.nodeRun('acl-b', bInv))) === 1,
      );
      const bRecord = await stack.redis.hgetall(k.nodeRun('acl-b', bInv));

      // Reading B's jobs, directly and through BullMQ.
      const prefixB = `${k.nodeQueuePrefix()}:${k.nodeQueueName('acl-b')}`;
      await noperm('LRANGE B wait', asA.lrange(`${prefixB}:wait`, 0, -1));
      await noperm('HGETALL B job', asA.hgetall(`${prefixB}:r-${bInv}`));
      const queueB = new Queue(k.nodeQueueName('acl-b'), {
        connection: asA,
        prefix: k.nodeQueuePrefix(),
      });
      queueB.on('error', () => undefined);
      try {
        await noperm('Queue(B).getJobs', queueB.getJobs(['wait', 'active', 'failed']));
        // Writing B's queue: a job for B that B's agent would run.
        await noperm(
          'Queue(B).add',
          queueB.add('run', { invokeId: bInv, fire: '', content: '' }, { jobId: 'forged' }),
        );
      } finally {
        await queueB.close();
      }

      // Forging B's results: the agent's own report scripts pointed at B's records.
      const forger = new AgentStore(asA, k, 'acl-b');
      await noperm(
        'finish B',
        forger.finish(bInv, 'forged', {
          status: 'Success',
          exitCode: 0,
          errorCode: '',
          errorInfo: '',
          output: Buffer.from('forged'),
          dropped: 0,
          started: true,
        }),
      );
      await noperm('claim B', forger.claim(bInv, '', 'forged', 'n', 'boot'));
      await noperm('register B', forger.register(0, 'boot', { hostname: 'forged' }));
      await noperm('HSET B run', asA.hset(k.nodeRun('acl-b', bInv), 'status', 'Success'));
      // A script naming a key it did not declare is checked too.
      await noperm(
        'EVAL on an undeclared key',
        asA.eval(`return redis.call('HGET', '${k.nodeRun('acl-b', bInv)}', 'status')`, 0),
      );
      assert.deepEqual(await stack.redis.hgetall(k.nodeRun('acl-b', bInv)), bRecord);

      // Other nodes' invocations and every global key.
      await noperm('HGETALL invocation', asA.hgetall(k.invocation(bInv)));
      await noperm('ZRANGE invocation index', asA.zrange(k.invocationIndex(), 0, -1));
      await noperm('SADD node registry', asA.sadd(k.nodeRegistry(), 'ghost'));
      await noperm('HGETALL B info', asA.hgetall(k.nodeInfo('acl-b')));
      await noperm('B node index', asA.zrange(k.nodeInvocations('acl-b'), 0, -1));
      // Keyless commands that would list or wipe other keys.
      await noperm('SCAN', asA.scan('0'));
      await noperm('KEYS', asA.keys('*'));
      await noperm('RANDOMKEY', asA.randomkey());
      await noperm('FLUSHALL', asA.flushall());
      await noperm('CONFIG GET', asA.config('GET', 'dir'));
      await noperm('SCRIPT FLUSH', asA.script('FLUSH'));
      await noperm('PUBSUB CHANNELS', asA.pubsub('CHANNELS'));

      // B's control channel (stops B's runs) and the global announce channel.
      await noperm('PUBLISH B ctl', asA.publish(k.nodeControlChannel('acl-b'), `stop ${bInv}`));
      await noperm('PUBLISH B announce', asA.publish(k.nodeAnnounceChannel('acl-b'), ''));
      await noperm('PUBLISH legacy announce', asA.publish(k.legacyAnnounceChannel(), 'acl-b'));
      // B's outbox notice (wakes the relay on a cluster): A may send only its own.
      await noperm('SPUBLISH B notice', asA.spublish(k.nodeEventsNotice('acl-b'), ''));
      assert.equal(typeof (await asA.spublish(k.nodeEventsNotice('acl-a'), '')), 'number');
      const sub = new Redis(serverUrl(a), { maxRetriesPerRequest: 1 });
      sub.on('error', () => undefined);
      try {
        await noperm('SUBSCRIBE B ctl', sub.subscribe(k.nodeControlChannel('acl-b')));
      } finally {
        sub.disconnect();
      }

      // What A may do: its own records. Its counters feed the fleet-wide /metrics, so what it
      // writes there is read as counts of known statuses only.
      assert.equal(await asA.exists(k.nodeInfo('acl-a')), 1);
      await asA.hset(k.nodeStats('acl-a'), 'Injected', '5', 'Failed', 'not-a-count');
      const metrics = await fetch(`${stack.url}/metrics`);
      assert.equal(metrics.status, 200);
      const text = await metrics.text();
      assert.ok(!text.includes('Injected'), 'a field of a node becomes a label');
      assert.match(text, /^fleetcmd_runs_total\{status="Failed"\} \d+$/m);
    });

    void it('the agent refuses admin credentials unless --allow-shared-credentials', async () => {
      const env = { ...stack.env, FLEETCMD_ALLOW_SHARED_CREDENTIALS: 'false' };
      const refused = await cli(['agent', '--node-id', 'acl-admin'], env);
      assert.equal(refused.code, 2, refused.stderr);
      assert.match(refused.stderr, /reach beyond node acl-admin/);
      assert.match(refused.stderr, /--allow-shared-credentials/);
      assert.match(refused.stderr, /fleetcmd node add acl-admin/);
      assert.equal(await stack.redis.exists(stack.keys.nodeInfo('acl-admin')), 0, 'not registered');

      const child = spawn(
        process.execPath,
        ['--import', 'tsx', CLI, 'agent', '--node-id', 'acl-admin', '--allow-shared-credentials'],
        { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let log = '';
      child.stdout.on('data', (d: Buffer) => (log += d.toString()));
      child.stderr.on('data', (d: Buffer) => (log += d.toString()));
      const exited = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
      try {
        await stack.waitFor(
          'the allowed agent to start',
          async () => {
            if (child.exitCode !== null) throw new Error(`agent exited: ${log}`);
            return log.includes('"agent started"');
          },
          30_000,
        );
        assert.match(log, /reach beyond this node \(allowed by --allow-shared-credentials\)/);
      } finally {
        child.kill('SIGTERM');
        await exited;
      }
    });

    void it('rotation and removal cut the old credentials off', async () => {
      const old = serverUrl(a);
      const rotated = await nodeAdd(stack, 'acl-a', ['--rotate']);
      assert.notEqual(serverUrl(rotated), old);
      /** PONG, or the error Redis answered the connection's AUTH with. */
      const tryAuth = async (url: string) => {
        const c = new Redis(url, {
          maxRetriesPerRequest: 0,
          lazyConnect: true,
          retryStrategy: () => null,
        });
        let lastError = '';
        c.on('error', (err: Error) => (lastError = err.message));
        try {
          await c.connect();
          return String(await c.ping());
        } catch (err) {
          return `${lastError} ${String(err)}`;
        } finally {
          c.disconnect();
        }
      };
      assert.match(await tryAuth(old), /WRONGPASS/);
      assert.equal(await tryAuth(serverUrl(rotated)), 'PONG');

      const removed = await cli(['node', 'remove', 'acl-a', '--json'], stack.env);
      assert.equal(removed.code, 0, removed.stderr);
      assert.equal((JSON.parse(removed.stdout) as { Removed: boolean }).Removed, true);
      assert.match(await tryAuth(serverUrl(rotated)), /WRONGPASS/);
      const gone = await onEachServer(stack.redis, (s) => s.call('ACL', 'GETUSER', a.Username));
      assert.ok(
        gone.every((u) => u === null),
        'removed from every server',
      );
      // Removal closed the connections the user had open.
      await stack.waitFor('the old connection to be closed', async () => asA.status !== 'ready');
    });
  });
}
