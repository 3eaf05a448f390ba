/**
 * What one agent holds on a Redis Cluster: its own local 3-master cluster (in both test modes),
 * one real agent process. Its idle traffic needs 3 connections (commands, BullMQ's blocking
 * reads, the control channel); start-up adds what cannot be steered (BullMQ's INFO on a random
 * master), never a connection per master per client.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, it } from 'node:test';
import { HANG_MS } from '../helpers/hang.js';
import { freshPrefix, useLocalCluster } from '../helpers/redis.js';
import { waitFor } from '../helpers/stack.js';
import { targetEnv } from '../../src/shared/redis-target.js';
import { keySlot } from '../../src/store/key-slot.js';
import { Keys } from '../../src/store/keys.js';
import { eachServer } from '../../src/store/redis.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const NODE = 'cc1';

void describe("an agent's connections on a Redis Cluster", () => {
  const local = useLocalCluster();
  let agent: ChildProcess | undefined;
  const prefix = freshPrefix();
  const keys = new Keys(prefix);

  // Before the cluster stops (hooks run in the order they were added: useLocalCluster's last).
  afterEach(async () => {
    if (agent && agent.exitCode === null) {
      agent.kill('SIGTERM');
      await new Promise((r) => agent?.once('exit', r));
    }
  });

  void it('announces through the master of its own keys and holds at most 5, the scope probe closed', async () => {
    const cluster = local.cluster();
    const admin = local.admin();
    const heard = admin.duplicate();
    let announcements = 0;
    heard.on('message', () => announcements++);
    await heard.subscribe(keys.nodeAnnounceChannel(NODE));
    agent = spawn(process.execPath, ['--import', 'tsx', CLI, 'agent', '--node-id', NODE], {
      env: {
        ...process.env,
        ...targetEnv(cluster.target),
        FLEETCMD_PREFIX: prefix,
        FLEETCMD_HEARTBEAT_SECONDS: '1',
        FLEETCMD_ALLOW_SHARED_CREDENTIALS: 'true',
        LOG_LEVEL: 'warn',
      },
      stdio: 'ignore',
    });
    // Several announcements (one a heartbeat in the first minute): reached on the cluster.
    await waitFor('3 announcements', async () => announcements >= 3, HANG_MS);
    heard.disconnect();
    const own = admin.slots[keySlot(keys.nodeInfo(NODE))]?.[0];
    const held: { server: string; name: string }[] = [];
    for (const server of eachServer(admin)) {
      const where = `${server.options.host}:${server.options.port}`;
      for (const line of String(await server.client('LIST'))
        .trim()
        .split('\n')) {
        const name = /\bname=(\S*)/.exec(line)?.[1] ?? '';
        if (name.includes(`fleetcmd-agent-${NODE}`) || name.startsWith(`${prefix}:nq:`)) {
          held.push({ server: where, name });
        }
      }
    }
    const detail = JSON.stringify({ own, held });
    assert.ok(!held.some((c) => c.name.endsWith('-scope')), `scope probe closed: ${detail}`);
    assert.ok(held.length <= 5, `at most 5 connections: ${detail}`);
    const commands = held.filter((c) => c.name === `fleetcmd-agent-${NODE}`);
    assert.ok(
      commands.some((c) => c.server === own),
      `the commands client is on the node's master: ${detail}`,
    );
    assert.ok(commands.length <= 2, `commands client on at most 2 masters: ${detail}`);
  });
});
