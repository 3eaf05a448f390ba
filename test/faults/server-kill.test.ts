import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  diskCounts,
  diskTotal,
  apiFor,
  useFaultFixture,
  startFleetAgent,
  portOf,
  startFleetServer,
  waitAllFinal,
  type FleetServer,
} from '../helpers/fleet.js';
import { waitFor } from '../helpers/stack.js';

/**
 * Fault: the only server (API + scheduler) is SIGKILLed while 500 Once runs are in flight
 * across 4 agents, some still to be fanned out, some waiting in node queues, some running. After
 * a restart every run reaches a final state, each ran exactly once, none is lost. Each command
 * appends "<InvokeId> <node>" to a file, so executions are counted on disk.
 */
const NODES = ['sk1', 'sk2', 'sk3', 'sk4'];
const RUNS = 500;
/** Executions on disk before the kill: the rest are in flight. */
const KILL_AFTER = 100;

void describe('fault: server SIGKILL with 500 Once runs in flight', () => {
  // Long enough that a run waiting for the restarted server is not Aborted meanwhile.
  const fx = useFaultFixture({ FLEETCMD_DELIVERY_TIMEOUT_SECONDS: '240' });

  void it('every run reaches a final state after a restart; none ran twice, none is lost', async () => {
    // The restarted server answers where the first one (on a port it bound itself) did.
    let server: FleetServer = await startFleetServer(fx.env);
    const port = portOf(server);
    const call = apiFor(() => server.url, fx.env);
    await Promise.all(NODES.map((n) => startFleetAgent(n, fx.env)));
    const file = join(fx.dir, 'runs.log');

    // 500 invocations, one node each, round robin, 25 requests at a time. The kill comes while
    // they are still being submitted: a request it cuts off is sent again with the same
    // ClientToken once the server is back, as a careful client does, and must not run twice.
    const t0 = Date.now();
    const ids: string[] = [];
    const nodeOf = new Map<string, string>();
    let retried = 0;
    let next = 0;
    const submitOne = async (i: number) => {
      const node = NODES[i % NODES.length] ?? '';
      for (const deadline = Date.now() + 120_000; ;) {
        const res = await call('RunCommand', {
          NodeIdList: [node],
          // The sleep keeps runs in flight: 4 agents x 16 slots x 2 s bound the pace to 32/s.
          CommandContent: `echo "$FLEETCMD_INVOKE_ID ${node}" >> ${file}; sleep 2`,
          ClientToken: `fault-sk-${i}`,
        });
        if (res.status === 200) {
          ids.push(res.body.InvokeId as string);
          nodeOf.set(res.body.InvokeId as string, node);
          return;
        }
        // Only the server being away may fail a request (refused, cut off, or 503).
        assert.ok(res.status === 0 || res.status === 503, JSON.stringify(res.body));
        assert.ok(Date.now() < deadline, `RunCommand ${i} not answered in 120 s`);
        retried++;
        await new Promise((r) => setTimeout(r, 200));
      }
    };
    const submitting = Promise.all(
      Array.from({ length: 25 }, async () => {
        for (let i = next++; i < RUNS; i = next++) await submitOne(i);
      }),
    );

    await waitFor('runs under way', async () => (await diskTotal(file)) >= KILL_AFTER, 60_000, 20);
    await server.kill();
    const atKill = await diskTotal(file);
    const answeredAtKill = ids.length;
    assert.ok(atKill < RUNS, `runs were in flight at the kill (${atKill} of ${RUNS} had started)`);

    server = await startFleetServer(fx.env, port);
    await submitting;
    const submitMs = Date.now() - t0;
    assert.equal(new Set(ids).size, RUNS, 'each ClientToken answered its own InvokeId');
    const final = await waitAllFinal(call, ids, 150_000);

    const counts = await diskCounts(file);
    const statuses = new Map<string, number>();
    for (const s of final.values()) statuses.set(s, (statuses.get(s) ?? 0) + 1);
    const duplicated = [...counts.values()].filter((c) => c > 1).length;
    const lost = ids.filter((id) => counts.get(`${id} ${nodeOf.get(id) ?? ''}`) === undefined);
    const strangers = [...counts.keys()].filter((l) => !nodeOf.has(l.split(' ')[0] ?? ''));
    console.log(
      `server SIGKILL: ${RUNS} runs, ${answeredAtKill} answered and ${atKill} started at the ` +
        `kill, ${retried} requests sent again, all answered in ${submitMs} ms; ` +
        `final ${JSON.stringify(Object.fromEntries(statuses))}; ` +
        `duplicated ${duplicated}, lost ${lost.length}`,
    );
    assert.equal(final.size, RUNS, 'every run has a final state');
    assert.deepEqual(Object.fromEntries(statuses), { Success: RUNS });
    assert.equal(duplicated, 0, 'no run executed twice');
    assert.deepEqual(lost, [], 'no run is lost');
    assert.deepEqual(strangers, []);
    assert.equal(await diskTotal(file), RUNS);
  });
});
