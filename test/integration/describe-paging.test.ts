import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AgentStore } from '../../src/store/agent-store.js';
import { InvocationStore, type IndexCursor } from '../../src/store/invocation-store.js';
import { loadConfig } from '../../src/shared/config.js';
import { makeLogger } from '../../src/shared/log.js';
import { startServer } from '../../src/server/main.js';
import type { Running } from '../../src/shared/running.js';
import { makeStack, run, type Stack } from '../helpers/stack.js';

interface Listed {
  InvokeId: string;
  CommandName: string;
  CreationTime: string;
  InvokeNodes: { InvokeNode: { NodeId: string }[] };
}

/**
 * DescribeInvocations pages through the index while RunCommand keeps adding to it. Nodes are
 * registered without agents: nothing here needs a command to run, only to be listed.
 */
void describe('DescribeInvocations paging while invocations are created', () => {
  let stack: Stack;
  /** InvokeId -> [name, node] of the invocations created before the walks start. */
  const before_ = new Map<string, [string, string]>();

  before(async () => {
    stack = await makeStack({ FLEETCMD_DELIVERY_TIMEOUT_SECONDS: '600' });
    for (const nodeId of ['p1', 'p2']) {
      await new AgentStore(stack.redis, stack.keys, nodeId).register(1000, 'boot', {
        hostname: nodeId,
      });
    }
    for (let i = 0; i < 45; i++) {
      const name = i % 3 === 0 ? 'alpha' : 'beta';
      const node = i % 2 === 0 ? 'p1' : 'p2';
      const id = await run(stack, { NodeIdList: [node], CommandContent: 'true', Name: name });
      before_.set(id, [name, node]);
    }
  });
  after(async () => {
    await stack.close();
  });

  /** Walks every page of a listing, creating two invocations after each page. */
  async function walk(filters: Record<string, unknown>, pageSize: number): Promise<Listed[]> {
    const seen: Listed[] = [];
    let token: string | undefined;
    for (let pages = 0; pages < 100; pages++) {
      const r = await stack.call('DescribeInvocations', {
        ...filters,
        MaxResults: pageSize,
        ...(token ? { NextToken: token } : {}),
      });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      const page = (r.body.Invocations as { Invocation: Listed[] }).Invocation;
      assert.ok(page.length <= pageSize);
      seen.push(...page);
      token = r.body.NextToken as string | undefined;
      if (!token) return seen;
      for (const node of ['p1', 'p2']) {
        await run(stack, { NodeIdList: [node], CommandContent: 'true', Name: 'alpha' });
      }
    }
    assert.fail('the walk did not end within 100 pages');
  }

  function assertWalk(seen: Listed[], expected: string[]): void {
    const ids = seen.map((s) => s.InvokeId);
    assert.equal(new Set(ids).size, ids.length, 'an invocation was listed twice');
    const listed = new Set(ids);
    const missing = expected.filter((id) => !listed.has(id));
    assert.deepEqual(missing, [], 'invocations that existed before the walk were skipped');
    for (let i = 1; i < seen.length; i++) {
      const a = seen[i - 1] as Listed;
      const b = seen[i] as Listed;
      assert.ok(a.CreationTime >= b.CreationTime, 'not newest first');
    }
  }

  void it('an unfiltered walk lists every earlier invocation exactly once, newest first', async () => {
    const seen = await walk({}, 7);
    assertWalk(seen, [...before_.keys()]);
  });

  void it('a walk filtered by NodeId and CommandName lists exactly the matches', async () => {
    const seen = await walk({ NodeId: 'p1', CommandName: 'alpha' }, 4);
    const expected = [...before_].filter(([, [n, node]]) => n === 'alpha' && node === 'p1');
    assert.ok(expected.length >= 7);
    assertWalk(
      seen,
      expected.map(([id]) => id),
    );
    // The node's own index holds exactly its invocations, so pages are full but the last.
    const indexed = await stack.redis.zrange(stack.keys.nodeInvocations('p1'), 0, -1);
    const p1 = [...before_].filter(([, [, node]]) => node === 'p1').map(([id]) => id);
    assert.deepEqual(
      p1.filter((id) => !indexed.includes(id)),
      [],
    );
    assert.ok(indexed.every((id) => !before_.has(id) || before_.get(id)?.[1] === 'p1'));
    for (const s of seen) {
      assert.equal(s.CommandName, 'alpha');
      assert.deepEqual(
        s.InvokeNodes.InvokeNode.map((n) => n.NodeId),
        ['p1'],
      );
    }
  });

  void it('pages filtered by NodeId are full but the last, and list multi-node invocations', async () => {
    const both = await run(stack, { NodeIdList: ['p1', 'p2'], CommandContent: 'true' });
    for (const node of ['p1', 'p2']) {
      const pages: number[] = [];
      const ids: string[] = [];
      let token: string | undefined;
      do {
        const r = await stack.call('DescribeInvocations', {
          NodeId: node,
          MaxResults: 5,
          ...(token ? { NextToken: token } : {}),
        });
        const page = (r.body.Invocations as { Invocation: Listed[] }).Invocation;
        pages.push(page.length);
        ids.push(...page.map((i) => i.InvokeId));
        token = r.body.NextToken as string | undefined;
      } while (token);
      assert.ok(
        pages.slice(0, -1).every((n) => n === 5),
        `short page before the last: ${pages.join(',')}`,
      );
      assert.equal(ids[0], both, 'the newest invocation of the node comes first');
      const expected = (await stack.redis.zcard(stack.keys.nodeInvocations(node))) as number;
      assert.equal(ids.length, expected);
    }
  });

  void it('a walk filtered by RepeatMode and InvokeStatus lists only matches', async () => {
    const seen = await walk({ RepeatMode: 'Once', InvokeStatus: 'Running' }, 10);
    // Nothing consumes these nodes' queues: every Once invocation stays Pending (legacy Running).
    assertWalk(seen, [...before_.keys()]);
    const none = await stack.call('DescribeInvocations', { RepeatMode: 'Period' });
    assert.deepEqual((none.body.Invocations as { Invocation: Listed[] }).Invocation, []);
  });

  void it('an upgrade indexes earlier invocations by node; until then NodeId walks the global index', async () => {
    // As before per-node indexes existed: none of them, and no ready mark.
    const { redis, keys } = stack;
    // One DEL per key: on a cluster they are in different slots.
    for (const k of [
      keys.nodeInvocations('p1'),
      keys.nodeInvocations('p2'),
      keys.nodeIndexReady(),
    ]) {
      await redis.del(k);
    }
    const store = new InvocationStore(redis, keys);
    const walk = async (nodeId: string) => {
      const seen: IndexCursor[] = [];
      for (let page = await store.page(40, undefined, 'command', nodeId); page.length > 0;) {
        seen.push(...page);
        page = await store.page(40, page[page.length - 1], 'command', nodeId);
      }
      return seen.map((c) => c.invokeId);
    };
    const global = await walk('p1');
    assert.equal(global.length, await redis.zcard(keys.invocationIndex()), 'the global index');

    const walked = await store.backfillNodeIndexes(Date.now());
    assert.equal(walked, global.length);
    assert.equal(await redis.exists(keys.nodeIndexReady()), 1);
    const mine = [...before_].filter(([, [, node]]) => node === 'p1').map(([id]) => id);
    const byNode = await walk('p1');
    for (const id of mine) assert.ok(byNode.includes(id), `${id} is in p1's index`);
    assert.deepEqual(
      byNode,
      global.filter((id) => byNode.includes(id)),
      'same order as the global index',
    );
    const nodesOf = await store.nodeIdsOf(byNode);
    assert.ok(
      nodesOf.every((n) => n?.includes('p1')),
      'only p1 invocations',
    );
    assert.equal(await store.backfillNodeIndexes(Date.now()), 0, 'once only');
  });
});

/**
 * Nodes' indexes get an invocation with its run records, at dispatch; until then a NodeId
 * listing finds it among the undispatched ones. Here no scheduler runs at first.
 */
void describe('DescribeInvocations by NodeId before dispatch', () => {
  let stack: Stack;
  let scheduler: Running | undefined;

  before(async () => {
    stack = await makeStack({ FLEETCMD_ROLE: 'api', FLEETCMD_DELIVERY_TIMEOUT_SECONDS: '600' });
    for (const nodeId of ['u1', 'u2']) {
      await new AgentStore(stack.redis, stack.keys, nodeId).register(1000, 'boot', {
        hostname: nodeId,
      });
    }
  });
  after(async () => {
    await scheduler?.close();
    await stack.close();
  });

  const listed = async (nodeId: string, pageSize: number) => {
    const ids: string[] = [];
    let token: string | undefined;
    do {
      const r = await stack.call('DescribeInvocations', {
        NodeId: nodeId,
        MaxResults: pageSize,
        ...(token ? { NextToken: token } : {}),
      });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      ids.push(
        ...(r.body.Invocations as { Invocation: Listed[] }).Invocation.map((i) => i.InvokeId),
      );
      token = r.body.NextToken as string | undefined;
    } while (token);
    return ids;
  };

  void it('lists an accepted invocation on its nodes at once, and the same once dispatched', async () => {
    // Timed invocations wait for a scheduler's dispatch (none runs yet); a one-off one is
    // fanned out by RunCommand itself, so its nodes' indexes hold it before the answer.
    const timed = { Frequency: 'rate(1h)', CommandContent: 'true' };
    const a = await run(stack, { NodeIdList: ['u1'], ...timed });
    const b = await run(stack, { NodeIdList: ['u2'], ...timed });
    const c = await run(stack, { NodeIdList: ['u1', 'u2'], ...timed });
    const { redis, keys } = stack;
    assert.equal(await redis.zcard(keys.nodeInvocations('u1')), 0, 'not dispatched yet');
    assert.equal(await redis.zcard(keys.undispatchedInvocations()), 3);
    assert.deepEqual(await listed('u1', 1), [c, a]);
    assert.deepEqual(await listed('u2', 10), [c, b]);
    const d = await run(stack, { NodeIdList: ['u1'], CommandContent: 'true' });
    assert.deepEqual(await redis.zrevrange(keys.nodeInvocations('u1'), 0, -1), [d]);
    assert.equal(
      await redis.zcard(keys.undispatchedInvocations()),
      3,
      'a one-off is not among them',
    );
    assert.deepEqual(await listed('u1', 1), [d, c, a]);

    scheduler = await startServer(
      loadConfig({
        ...stack.env,
        FLEETCMD_ROLE: 'scheduler',
        FLEETCMD_API_TOKEN: stack.token,
        FLEETCMD_DELIVERY_TIMEOUT_SECONDS: '600',
        PORT: '0',
        FLEETCMD_HOST: '127.0.0.1',
        LOG_LEVEL: 'silent',
      }),
      makeLogger('silent', 'test'),
    );
    await stack.waitFor(
      'every invocation to be dispatched',
      async () => (await redis.zcard(keys.undispatchedInvocations())) === 0,
      20_000,
    );
    assert.deepEqual(await redis.zrevrange(keys.nodeInvocations('u1'), 0, -1), [d, c, a]);
    assert.deepEqual(await listed('u1', 1), [d, c, a]);
    assert.deepEqual(await listed('u2', 10), [c, b]);
  });
});
