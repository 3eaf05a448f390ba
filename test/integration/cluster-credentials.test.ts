/**
 * An agent on a Redis Cluster whose credentials Redis refuses stops, naming why, as on one
 * Redis: at start (a deregistered node's state file) and while it runs (its user removed). One
 * Redis fails the pending commands with WRONGPASS; a cluster client keeps them queued and
 * retries its slot map forever, so the agent used to wait for good, saying nothing.
 *
 * Runs in both modes: it starts a local 3-master cluster of its own.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { targetEnv } from '../../src/shared/redis-target.js';
import { freshPrefix, onEachServer, useLocalCluster } from '../helpers/redis.js';
import { HANG_MS, hangBound } from '../helpers/hang.js';
import { runCli, spawnCli, waitFor } from '../helpers/stack.js';
import { Keys } from '../../src/store/keys.js';

const REFUSED = /Redis refused node \S+ credentials \(WRONGPASS[^)]*\): the node was deregistered/;

void describe('an agent on a cluster whose credentials are refused', () => {
  const local = useLocalCluster();
  const prefix = freshPrefix();
  const adminEnv = () => ({ ...targetEnv(local.cluster().target), FLEETCMD_PREFIX: prefix });

  void it('stops at start, naming the refusal', async () => {
    const r = await hangBound(
      'the refused agent',
      runCli(['agent', '--node-id', 'gone'], {
        ...adminEnv(),
        REDIS_USERNAME: 'fc-gone',
        REDIS_PASSWORD: 'not-its-password',
      }),
    );
    assert.notEqual(r.code, 0);
    assert.match(r.stdout + r.stderr, REFUSED);
  });

  void it('stops while it runs once its user is removed from every master', async () => {
    const added = await runCli(['node', 'add', 'cc1', '--json'], adminEnv());
    assert.equal(added.code, 0, added.stderr);
    const { settings } = JSON.parse(added.stdout) as { settings: Record<string, string> };
    let log = '';
    const agent = spawnCli(['agent'], { ...settings, LOG_LEVEL: 'info' }, (c) => (log += c));
    agent.child.stderr?.on('data', (d: Buffer) => (log += d.toString()));
    try {
      await waitFor(
        'the agent to start',
        async () => {
          if (agent.child.exitCode !== null) throw new Error(`agent exited: ${log}`);
          return log.includes('"agent started"');
        },
        HANG_MS,
      );
      // As a crashed `node remove` would leave it: the user gone, no word on the channel.
      const user = new Keys(prefix).nodeAclUser('cc1');
      await onEachServer(local.admin(), (r) => r.call('ACL', 'DELUSER', user));
      const done = await hangBound('the agent to stop', agent.done);
      assert.equal(done.code, 78, log);
      assert.match(log, REFUSED);
    } finally {
      agent.child.kill('SIGKILL');
    }
  });
});
