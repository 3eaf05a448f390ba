import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  apiFor,
  diskCounts,
  diskTotal,
  startFleetAgent,
  portOf,
  startFleetServer,
  useFaultFixture,
  waitAllFinal,
} from '../helpers/fleet.js';

/**
 * Fault: an accepted run is never lost to a server crash. With the delivery deadline at 5 s,
 * 100 Once runs are answered by RunCommand, and the only server (API + scheduler) is SIGKILLed
 * right after the last answer, then started again. Every run must still run, exactly once: a
 * run whose answer went out may not depend on a scheduler job that a dead replica held (its
 * lock outlives the delivery deadline, and the run would be Aborted with DeliveryTimeout on an
 * online node). Each command appends "<InvokeId> <node>" to a file, so runs are counted on disk.
 */
const NODES = ['dc1', 'dc2'];
const RUNS = 100;

/**
 * Both ways a one-off invocation is fanned out: by RunCommand before it answers (a list of up to
 * FLEETCMD_INLINE_FANOUT_NODES nodes), and by a scheduler job (forced here with 0), whose
 * delivery deadline finishes a fan-out the dead replica left undone.
 */
const WAYS = [
  { way: 'RunCommand fans out (single hop)', inline: '64' },
  { way: 'a scheduler job fans out (FLEETCMD_INLINE_FANOUT_NODES=0)', inline: '0' },
];

for (const { way, inline } of WAYS)
  void describe(`fault: server SIGKILL right after 100 RunCommand answers; ${way}`, () => {
    const fx = useFaultFixture({
      FLEETCMD_DELIVERY_TIMEOUT_SECONDS: '5',
      FLEETCMD_INLINE_FANOUT_NODES: inline,
    });

    void it('all 100 accepted runs run exactly once after a restart', async () => {
      // The restarted server answers where the first one (on a port it bound itself) did.
      let server = await startFleetServer(fx.env);
      const port = portOf(server);
      const call = apiFor(() => server.url, fx.env);
      await Promise.all(NODES.map((n) => startFleetAgent(n, fx.env)));
      const file = join(fx.dir, 'runs.log');

      // 25 requests in flight (under the server's per-address connection limit), so the
      // scheduler still has dispatch work when the last answer arrives.
      const nodeOf = new Map<string, string>();
      const answers: string[] = [];
      let next = 0;
      await Promise.all(
        Array.from({ length: 25 }, async () => {
          for (let i = next++; i < RUNS; i = next++) {
            const node = NODES[i % NODES.length] ?? '';
            const res = await call('RunCommand', {
              NodeIdList: [node],
              CommandContent: `echo "$FLEETCMD_INVOKE_ID ${node}" >> ${file}`,
            });
            assert.equal(res.status, 200, JSON.stringify(res.body));
            const id = res.body.InvokeId as string;
            nodeOf.set(id, node);
            answers.push(id);
          }
        }),
      );
      await server.kill();
      const atKill = await diskTotal(file);

      server = await startFleetServer(fx.env, port);
      // A generous hang bound: the runs need seconds, not minutes.
      const final = await waitAllFinal(call, answers, 120_000);

      const counts = await diskCounts(file);
      const statuses = new Map<string, number>();
      for (const s of final.values()) statuses.set(s, (statuses.get(s) ?? 0) + 1);
      const duplicated = [...counts.values()].filter((c) => c > 1).length;
      const lost = answers.filter(
        (id) => counts.get(`${id} ${nodeOf.get(id) ?? ''}`) === undefined,
      );
      console.log(
        `dispatch crash (${way}): ${RUNS} answered, ${atKill} had run at the kill; ` +
          `final ${JSON.stringify(Object.fromEntries(statuses))}; ` +
          `duplicated ${duplicated}, lost ${lost.length}`,
      );
      assert.deepEqual(Object.fromEntries(statuses), { Success: RUNS });
      assert.equal(duplicated, 0, 'no run executed twice');
      assert.deepEqual(lost, [], 'no accepted run is lost');
      assert.equal(await diskTotal(file), RUNS);
    });
  });
