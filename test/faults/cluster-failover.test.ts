import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Cluster } from 'ioredis';
import { targetEnv } from '../../src/shared/redis-target.js';
import { Keys } from '../../src/store/keys.js';
import {
  apiFor,
  diskCounts,
  diskTotal,
  killAllFleet,
  onlineNodes,
  ready,
  startFleetAgent,
  startFleetServer,
  waitAllFinal,
} from '../helpers/fleet.js';
import { HANG_MS } from '../helpers/hang.js';
import { clientOf, freshPrefix } from '../helpers/redis.js';
import { startLocalCluster, type LocalCluster } from '../helpers/redis-cluster.js';
import { waitFor } from '../helpers/stack.js';

/**
 * Failover drill on a local 3-master Redis Cluster (no replicas; AOF with `appendfsync always`
 * on each master): the master holding the `{global}` slot (invocation index, events, audit,
 * node registry) and one node's run queue is SIGKILLed under load and started again on its
 * port and data directory. With no replica to promote, the cluster is down (CLUSTERDOWN) once
 * the other masters see it fail, and back when it returns. Every invocation answered with an
 * InvokeId runs exactly once and ends Success (counted on disk); an every-second schedule
 * fires no fire twice and fires again; reads and writes resume, and the agents on all three
 * masters come back online by themselves. Runs on its own cluster whatever
 * FLEETCMD_TEST_CLUSTER says.
 */
const OUTAGE_MIN_MS = 4_000;

void describe('fault: a Redis Cluster master SIGKILLed and restarted (failover drill)', () => {
  let cluster: LocalCluster;
  let dir: string;
  let env: Record<string, string>;
  let nodes: string[];
  let victim: number;

  before(async () => {
    cluster = await startLocalCluster(3);
    dir = await mkdtemp(join(tmpdir(), 'fleetcmd-failover-'));
    const prefix = freshPrefix();
    const keys = new Keys(prefix);
    env = {
      ...targetEnv(cluster.target),
      FLEETCMD_PREFIX: prefix,
      FLEETCMD_API_TOKEN: 'failover-drill-token',
      FLEETCMD_HEARTBEAT_SECONDS: '1',
      FLEETCMD_DELIVERY_TIMEOUT_SECONDS: '60',
      FLEETCMD_MIN_INTERVAL_SECONDS: '1',
    };
    // Which master holds which key: the victim holds {global}; one node per master.
    const admin = clientOf(cluster.target) as Cluster;
    try {
      const portOf = async (key: string) => {
        const slot = Number(await admin.call('CLUSTER', 'KEYSLOT', key));
        const owner = (admin.slots[slot] ?? [])[0] ?? '';
        return Number(owner.split(':').at(-1));
      };
      const ports = cluster.servers.map((s) => s.port);
      victim = ports.indexOf(await portOf(keys.invocationIndex()));
      assert.ok(victim >= 0, 'the {global} slot has an owner');
      nodes = [];
      for (const port of ports) {
        for (let i = 0; ; i++) {
          const id = `fo-${i}`;
          if (
            (await portOf(keys.nodeInfo(id))) === port &&
            (await portOf(keys.nodeQueuePrefix() + ':' + keys.nodeQueueName(id))) === port
          ) {
            nodes.push(id);
            break;
          }
        }
      }
    } finally {
      admin.disconnect();
    }
  });

  after(async () => {
    await killAllFleet();
    await cluster.stop();
    await rm(dir, { recursive: true, force: true });
  });

  void it('nothing answered is lost or run twice; reads, writes and agents resume', async () => {
    const server = await startFleetServer(env);
    const call = apiFor(() => server.url, env);
    await Promise.all(nodes.map((n) => startFleetAgent(n, env)));
    const file = join(dir, 'runs.log');

    const schedFile = join(dir, 'schedule.log');
    const sched = await call('RunCommand', {
      NodeIdList: nodes,
      CommandContent: `echo "$FLEETCMD_INVOKE_ID $FLEETCMD_FIRE_ID {{ACS::NodeId}}" >> ${schedFile}`,
      EnableParameter: true,
      Frequency: 'rate(1s)',
    });
    assert.equal(sched.status, 200, JSON.stringify(sched.body));
    const schedId = sched.body.InvokeId as string;

    let loading = true;
    let away = false;
    const answered: { id: string; node: string }[] = [];
    const outage = { answers: 0, statuses: new Map<number, number>() };
    let i = 0;
    const client = async () => {
      while (loading) {
        const node = nodes[i++ % nodes.length] ?? '';
        const wasAway = away;
        const res = await call(
          'RunCommand',
          { NodeIdList: [node], CommandContent: `echo "$FLEETCMD_INVOKE_ID ${node}" >> ${file}` },
          HANG_MS,
        );
        if (res.status === 200) answered.push({ id: res.body.InvokeId as string, node });
        if (wasAway && away) {
          outage.answers++;
          outage.statuses.set(res.status, (outage.statuses.get(res.status) ?? 0) + 1);
        }
        if (res.status !== 200) await new Promise((r) => setTimeout(r, 50));
      }
    };
    const load = Promise.all([client(), client(), client()]);
    await waitFor('load before the kill', async () => answered.length >= 15, HANG_MS);

    await cluster.kill(victim);
    away = true;
    const answeredBefore = answered.length;
    await Promise.all([
      new Promise((r) => setTimeout(r, OUTAGE_MIN_MS)),
      waitFor(
        'requests answered while the master is away',
        async () => outage.answers >= 6,
        HANG_MS,
      ),
    ]);
    away = false;
    await cluster.restart(victim);
    await waitFor('the API to be ready again', () => ready(server.url), HANG_MS, 100);
    const firesAtRestart = await diskTotal(schedFile);
    const afterRestart = answered.length;
    await waitFor(
      'writes after the restart',
      async () => answered.length >= afterRestart + 15,
      HANG_MS,
    );
    loading = false;
    await load;

    await waitFor(
      'every agent online again',
      async () => (await onlineNodes(call, nodes)).length === nodes.length,
      HANG_MS,
    );
    await waitFor(
      'the schedule to fire again on every node',
      async () => (await diskTotal(schedFile)) >= firesAtRestart + 3 * nodes.length,
      HANG_MS,
    );
    assert.equal((await call('StopInvocation', { InvokeId: schedId })).status, 200);

    const final = await waitAllFinal(
      call,
      answered.map((a) => a.id),
      120_000,
    );
    const counts = await diskCounts(file);
    const lost = answered.filter(
      (a) => final.get(`${a.id} ${a.node}`) !== 'Success' || counts.get(`${a.id} ${a.node}`) !== 1,
    );
    const fires = await diskCounts(schedFile);
    console.log(
      `cluster failover: master ${victim} of 3 (holding {global} and node ${nodes[victim]}) ` +
        `killed; ${answered.length} runs answered (${answeredBefore} before the kill), ` +
        `${outage.answers} requests while it was away (${JSON.stringify([...outage.statuses])}); ` +
        `lost ${lost.length}; schedule ${fires.size} fires (${firesAtRestart} before the restart)`,
    );
    assert.deepEqual(lost, [], 'every answered invocation ran once and succeeded');
    assert.deepEqual(
      [...counts.entries()].filter(([, c]) => c > 1),
      [],
      'no command ran twice',
    );
    assert.deepEqual(
      [...fires.entries()].filter(([, c]) => c > 1),
      [],
      'no fire of the schedule ran twice',
    );
    // Reads after the restart see what was written before the kill (AOF kept it).
    const first = answered[0];
    assert.ok(first);
    const read = await call('DescribeInvocations', { InvokeId: first.id });
    assert.equal(read.status, 200);
  });
});
