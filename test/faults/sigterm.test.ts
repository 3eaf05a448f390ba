import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  describeOne,
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
import { gateSh, openGate } from '../helpers/events.js';
import { HANG_MS, hangBound } from '../helpers/hang.js';
import { alive, waitFor } from '../helpers/stack.js';

/**
 * Fault: SIGTERM, as an orchestrator sends it before a restart. The server drains and exits by
 * itself under load and loses nothing (a restarted one finishes the work). The agent stops taking
 * work at once, lets running commands finish for FLEETCMD_AGENT_GRACE_SECONDS, then kills the
 * rest (reported Error, interrupted) and exits. Executions are counted on disk. No clock decides
 * anything here: commands hold on gates the test opens, and bounds only catch hangs (how long
 * the drains take is a benchmark's business).
 */
/** Long enough that the test, however loaded, opens a gate well within it. */
const GRACE_SECONDS = 15;
/** Only against hangs. */

void describe('fault: SIGTERM drains server and agent', () => {
  const fx = useFaultFixture({
    FLEETCMD_DELIVERY_TIMEOUT_SECONDS: '5',
    FLEETCMD_AGENT_GRACE_SECONDS: String(GRACE_SECONDS),
  });

  void it('the server drains and exits by itself under load; a restarted one finishes every run once', async () => {
    // The restarted server answers where the first one (on a port it bound itself) did, as
    // behind an orchestrator.
    let server: FleetServer = await startFleetServer(fx.env);
    const port = portOf(server);
    const call = apiFor(() => server.url, fx.env);
    const nodes = ['tm1', 'tm2'];
    await Promise.all(nodes.map((n) => startFleetAgent(n, fx.env)));
    const file = join(fx.dir, 'server-runs.log');
    const ids: string[] = [];
    let loading = true;
    const client = async (k: number) => {
      for (let i = 0; loading; i++) {
        const node = nodes[(i + k) % nodes.length] ?? '';
        const res = await call('RunCommand', {
          NodeIdList: [node],
          CommandContent: `echo "$FLEETCMD_INVOKE_ID ${node}" >> ${file}; sleep 1`,
        });
        if (res.status === 200) ids.push(res.body.InvokeId as string);
        else await new Promise((r) => setTimeout(r, 100));
      }
    };
    const load = Promise.all([client(0), client(1), client(2)]);
    await waitFor('load', async () => ids.length >= 30 && (await diskTotal(file)) >= 5, HANG_MS);
    const stopped = await hangBound('the server to exit on SIGTERM', server.stop('SIGTERM'));
    loading = false;
    await load;
    assert.equal(stopped.code, 0, server.log().slice(-2000));

    server = await startFleetServer(fx.env, port);
    // The agents kept running meanwhile; the restarted server applies what is left.
    const final = await waitAllFinal(call, ids, HANG_MS);
    const counts = await diskCounts(file);
    const notOnce = ids.filter((id) => {
      const node = [...final.keys()].find((k) => k.startsWith(`${id} `)) ?? '';
      return final.get(node) !== 'Success' || counts.get(node) !== 1;
    });
    console.log(
      `server SIGTERM: drained in ${stopped.ms} ms (exit ${String(stopped.code)}); ` +
        `${ids.length} runs answered, ${ids.length - notOnce.length} ran once with Success`,
    );
    assert.deepEqual(notOnce, [], 'every answered run succeeded, exactly once');
    assert.equal(await diskTotal(file), ids.length);
  });

  void it(`the agent stops taking work, gives running commands ${GRACE_SECONDS} s, then reports the rest Error`, async () => {
    const server = await startFleetServer(fx.env);
    const call = apiFor(() => server.url, fx.env);
    const agent = await startFleetAgent('tg1', fx.env);
    const file = join(fx.dir, 'agent-runs.log');
    const line = `echo "$FLEETCMD_INVOKE_ID tg1" >> ${file}`;
    // The quick command holds on a gate the test opens only once the agent drains: it is running
    // when SIGTERM comes, and must be let finish. The slow one outlasts every bound here.
    const gate = join(fx.dir, 'quick.gate');
    const quick = await call('RunCommand', {
      NodeIdList: ['tg1'],
      CommandContent: `${line}; ${gateSh(gate)}; echo done`,
    });
    const slow = await call('RunCommand', {
      NodeIdList: ['tg1'],
      CommandContent: `${line}; echo $$ > ${fx.dir}/slow.pid; sleep 600`,
    });
    const quickId = quick.body.InvokeId as string;
    const slowId = slow.body.InvokeId as string;
    await waitFor('both to start', async () => (await diskTotal(file)) === 2, HANG_MS);
    await waitFor(
      'the slow pid',
      async () => (await readFile(join(fx.dir, 'slow.pid'), 'utf8').catch(() => '')).trim() !== '',
      HANG_MS,
    );
    const slowPid = Number((await readFile(join(fx.dir, 'slow.pid'), 'utf8')).trim());
    fx.pids.push(slowPid);

    const stopping = agent.stop('SIGTERM');
    await waitFor(
      'the agent to drain',
      async () => agent.log().includes('"agent draining"'),
      HANG_MS,
    );
    await openGate(gate);
    // Sent while it drains: the draining agent must not take it.
    const late = await call('RunCommand', { NodeIdList: ['tg1'], CommandContent: line });
    const lateId = late.body.InvokeId as string;
    // It kills what outlasts the grace and exits, rather than waiting for the command.
    const stopped = await hangBound('the agent to exit on SIGTERM', stopping);
    console.log(
      `agent SIGTERM: exited ${String(stopped.code)} after ${stopped.ms} ms (grace ${GRACE_SECONDS} s)`,
    );
    assert.equal(stopped.code, 0, agent.log().slice(-2000));
    assert.equal(alive(slowPid), false, 'the command past its grace was killed');

    const q = (await describeOne(call, quickId))?.InvokeNodes.InvokeNode[0];
    assert.equal(q?.InvocationStatus, 'Success', 'a command within the grace period finishes');
    const qOut = await call('DescribeInvocations', {
      InvokeId: quickId,
      IncludeOutput: true,
      ContentEncoding: 'PlainText',
    });
    const qNode = (
      qOut.body.Invocations as {
        Invocation: { InvokeNodes: { InvokeNode: { Output: string }[] } }[];
      }
    ).Invocation[0]?.InvokeNodes.InvokeNode[0];
    assert.equal(qNode?.Output, 'done\n', 'it ran past the gate opened while the agent drained');
    const s = (await describeOne(call, slowId))?.InvokeNodes.InvokeNode[0];
    assert.equal(s?.InvocationStatus, 'Error');
    assert.equal(s?.ErrorInfo, 'the command execution has been interrupted');
    assert.equal(s?.Repeats, 1);

    // The run sent while it drained was not taken: Aborted at the delivery timeout, and a new
    // life of the agent does not run it either.
    const lateFinal = await waitAllFinal(call, [lateId], HANG_MS);
    assert.equal(lateFinal.get(`${lateId} tg1`), 'Aborted');
    await startFleetAgent('tg1', fx.env);
    const fresh = await call('RunCommand', { NodeIdList: ['tg1'], CommandContent: line });
    const freshId = fresh.body.InvokeId as string;
    assert.equal((await waitAllFinal(call, [freshId], HANG_MS)).get(`${freshId} tg1`), 'Success');

    const counts = await diskCounts(file);
    assert.equal(counts.get(`${quickId} tg1`), 1);
    assert.equal(counts.get(`${slowId} tg1`), 1);
    assert.equal(counts.get(`${lateId} tg1`), undefined, 'the late run never ran');
    assert.equal(counts.get(`${freshId} tg1`), 1);
  });
});
