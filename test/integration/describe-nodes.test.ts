import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AgentStore } from '../../src/store/agent-store.js';
import { makeStack, run, waitFinal, type Stack } from '../helpers/stack.js';

type NodeRow = Record<string, unknown> & { NodeId: string };

/** The node inventory (SPEC §2 DescribeNodes) as the counters and filters move. */
void describe('DescribeNodes inventory', () => {
  let stack: Stack;

  before(async () => {
    stack = await makeStack();
    await stack.startAgent('inv1');
    // Registered, announced, then stopped cleanly: offline nodes of the registry.
    for (const id of ['zz1', 'zz2', 'zz3']) {
      const store = new AgentStore(stack.redis, stack.keys, id);
      await store.register(1000, 'old-boot', { hostname: `host-${id}` });
      await store.markStopped();
      await store.announce();
    }
    await stack.waitFor('the registry to list all four nodes', async () => {
      const res = await stack.call('DescribeNodes', { MaxResults: 50 });
      return (res.body.Nodes as { Node: unknown[] }).Node.length === 4;
    });
  });
  after(async () => {
    await stack.close();
  });

  async function nodes(body: Record<string, unknown>): Promise<{ rows: NodeRow[]; next?: string }> {
    const res = await stack.call('DescribeNodes', body);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return {
      rows: (res.body.Nodes as { Node: NodeRow[] }).Node,
      next: res.body.NextToken as string | undefined,
    };
  }

  void it('counts invocations, shows the last one and the tasks running now', async () => {
    const [before_] = (await nodes({ NodeId: 'inv1' })).rows;
    assert.ok(before_);
    assert.equal(before_.InvocationCount, 0);
    assert.equal(before_.LastInvokedTime, '');

    await waitFinal(stack, await run(stack, { NodeIdList: ['inv1'], CommandContent: 'true' }));
    const long = await run(stack, { NodeIdList: ['inv1'], CommandContent: 'sleep 30' });
    const busy = await stack.waitFor('the sleep to run', async () => {
      const [row] = (await nodes({ NodeId: 'inv1' })).rows;
      return row?.ActiveTaskCount === 1 ? row : undefined;
    });
    assert.equal(busy.InvocationCount, 2);
    assert.match(String(busy.LastInvokedTime), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.equal(busy.Online, true);

    await stack.call('StopInvocation', { InvokeId: long });
    await waitFinal(stack, long);
    const [idle] = (await nodes({ NodeId: 'inv1' })).rows;
    assert.equal(idle?.ActiveTaskCount, 0);
    assert.equal(idle?.InvocationCount, 2);
  });

  void it('filters by Online and pages without skipping or repeating', async () => {
    const online = (await nodes({ Online: true })).rows.map((r) => r.NodeId);
    assert.deepEqual(online, ['inv1']);
    const offline = (await nodes({ Online: false })).rows;
    assert.deepEqual(
      offline.map((r) => r.NodeId),
      ['zz1', 'zz2', 'zz3'],
    );
    assert.equal(offline[0]?.Hostname, 'host-zz1');

    const seen: string[] = [];
    let token: string | undefined;
    do {
      const page = await nodes({ MaxResults: 1, ...(token ? { NextToken: token } : {}) });
      assert.ok(page.rows.length <= 1);
      seen.push(...page.rows.map((r) => r.NodeId));
      token = page.next;
    } while (token);
    assert.deepEqual(seen, ['inv1', 'zz1', 'zz2', 'zz3']);
  });

  void it('an unknown NodeId lists nothing, a malformed one is a 400 naming the field', async () => {
    assert.deepEqual((await nodes({ NodeId: 'nope' })).rows, []);
    const bad = await stack.call('DescribeNodes', { NodeId: 'a b' });
    assert.equal(bad.status, 400);
    assert.match(String(bad.body.Message), /NodeId/);
  });
});
