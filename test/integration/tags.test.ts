import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AgentStore } from '../../src/store/agent-store.js';
import { benchInvocation } from '../../bench/bench-invocation.js';
import { withStores } from '../helpers/stores.js';
import type { ListTagResourcesAnswer } from '../../src/api/schemas/response.js';
import type { SummarizeInvocationAnswer } from '../../src/api/schemas/summary.js';
import {
  makeStack,
  quietKeys,
  run,
  waitFinal,
  type AgentProcess,
  type Stack,
} from '../helpers/stack.js';
import { keysUnder } from '../helpers/redis.js';

type NodeRow = { NodeId: string; Tags: { Tag: { TagKey: string; TagValue: string }[] } };
type TagRow = ListTagResourcesAnswer['TagResources']['TagResource'][number];

/** Node tags (agent-reported and API-set), tag targets and DryRun, with real agents. */
void describe('node tags and tag targets', () => {
  let stack: Stack;
  let t1: AgentProcess;

  before(async () => {
    stack = await makeStack();
    t1 = await stack.startAgent('t1', { FLEETCMD_NODE_TAGS: 'gpu=h100,rack=r12' });
    await stack.startAgent('t2', {}, ['--tag', 'gpu=h100', '--tag', 'rack=r13']);
    await stack.startAgent('t3');
    // Registered and stopped: an offline node (for DryRun's OfflineNodeIds).
    const off = new AgentStore(stack.redis, stack.keys, 't4');
    await off.register(1000, 'old-boot', { hostname: 'host-t4', tags: '[["gpu","a10"]]' });
    await off.markStopped();
    await off.announce(true);
    await stack.waitFor('agent tags to reach the indexes', async () => {
      const rows = await nodes({ Tag: [{ Key: 'gpu' }] });
      return rows.length === 3;
    });
  });
  after(async () => {
    await stack.close();
  });

  async function nodes(body: Record<string, unknown>): Promise<NodeRow[]> {
    const res = await stack.call('DescribeNodes', { MaxResults: 50, ...body });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return (res.body.Nodes as { Node: NodeRow[] }).Node;
  }

  async function tagsOf(nodeId: string): Promise<Record<string, string>> {
    const [row] = await nodes({ NodeId: nodeId });
    return Object.fromEntries((row?.Tags.Tag ?? []).map((t) => [t.TagKey, t.TagValue]));
  }

  const ids = (rows: { NodeId: string }[]) => rows.map((r) => r.NodeId).sort();

  void it('shows the tags agents report (env and --tag) and filters DescribeNodes by them', async () => {
    assert.deepEqual(await tagsOf('t1'), { gpu: 'h100', rack: 'r12' });
    assert.deepEqual(await tagsOf('t2'), { gpu: 'h100', rack: 'r13' });
    assert.deepEqual(await tagsOf('t3'), {});
    assert.deepEqual(ids(await nodes({ Tag: [{ Key: 'gpu', Value: 'h100' }] })), ['t1', 't2']);
    const both = [
      { Key: 'gpu', Value: 'h100' },
      { Key: 'rack', Value: 'r12' },
    ];
    assert.deepEqual(ids(await nodes({ Tag: both })), ['t1']);
    assert.deepEqual(ids(await nodes({ Tag: [{ Key: 'gpu' }] })), ['t1', 't2', 't4']);
    assert.deepEqual(ids(await nodes({ Tag: [{ Key: 'rack', Value: 'nope' }] })), []);
  });

  void it('a bad FLEETCMD_NODE_TAGS stops the agent with a message naming it', async () => {
    await assert.rejects(
      stack.startAgent('bad1', { FLEETCMD_NODE_TAGS: 'gpu=h100,gpu=a10' }),
      /FLEETCMD_NODE_TAGS \(--tag\): tag key "gpu" is given twice/,
    );
    await assert.rejects(
      stack.startAgent('bad2', {}, ['--tag', `${'k'.repeat(129)}=v`]),
      /FLEETCMD_NODE_TAGS \(--tag\): tag key .* is longer than 128 characters/,
    );
  });

  void it('an API tag survives an agent restart and wins over the agent tag of its key', async () => {
    const res = await stack.call('TagResources', {
      ResourceType: 'node',
      ResourceId: ['t1'],
      Tag: [
        { Key: 'rack', Value: 'r99' },
        { Key: 'owner', Value: 'ops' },
      ],
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(await tagsOf('t1'), { gpu: 'h100', owner: 'ops', rack: 'r99' });
    await t1.kill('SIGTERM');
    // The agent comes back with other tags: its own are replaced, the API's kept.
    t1 = await stack.startAgent('t1', { FLEETCMD_NODE_TAGS: 'rack=r12,zone=z1' });
    await stack.waitFor('the new registration’s tags', async () => 'zone' in (await tagsOf('t1')));
    assert.deepEqual(await tagsOf('t1'), { owner: 'ops', rack: 'r99', zone: 'z1' });
    assert.deepEqual(ids(await nodes({ Tag: [{ Key: 'rack', Value: 'r12' }] })), []);
    assert.deepEqual(ids(await nodes({ Tag: [{ Key: 'rack', Value: 'r99' }] })), ['t1']);
    assert.deepEqual(ids(await nodes({ Tag: [{ Key: 'gpu', Value: 'h100' }] })), ['t2']);
    // Untagging removes the key whoever set it; the agent's other tags stay.
    const un = await stack.call('UntagResources', {
      ResourceType: 'node',
      ResourceId: ['t1'],
      TagKey: ['rack', 'owner'],
    });
    assert.equal(un.status, 200, JSON.stringify(un.body));
    assert.deepEqual(await tagsOf('t1'), { zone: 'z1' });
    await stack.call('TagResources', {
      ResourceType: 'node',
      ResourceId: ['t1'],
      Tag: [{ Key: 'gpu', Value: 'h100' }],
    });
  });

  void it('a tag-targeted RunCommand runs exactly on the matching nodes, resolved at submission', async () => {
    const invokeId = await run(stack, {
      ResourceTag: [{ Key: 'gpu', Value: 'h100' }],
      CommandContent: 'echo ran on {{ACS::NodeId}}',
      EnableParameter: true,
    });
    // Tagged after submission: not a target of the invocation.
    await stack.call('TagResources', {
      ResourceType: 'node',
      ResourceId: ['t3'],
      Tag: [{ Key: 'gpu', Value: 'h100' }],
    });
    const inv = await waitFinal(stack, invokeId);
    const rows = inv.InvokeNodes.InvokeNode;
    assert.deepEqual(rows.map((n) => n.NodeId).sort(), ['t1', 't2']);
    for (const n of rows) {
      assert.equal(n.InvocationStatus, 'Success');
      assert.equal(n.Output, `ran on ${n.NodeId}\n`);
    }
    // t3 got no run record and no run of it.
    assert.equal(await stack.redis.exists(stack.keys.nodeRun('t3', invokeId)), 0);
    assert.equal((await stack.describe(invokeId)).InvokeNodes.InvokeNode.length, 2);
  });

  void it('pages ListTagResources by rows, by node then key, with and without filters', async () => {
    async function all(body: Record<string, unknown>, max: number): Promise<TagRow[]> {
      const out: TagRow[] = [];
      let token: string | undefined;
      let pages = 0;
      do {
        const res = await stack.call('ListTagResources', {
          ResourceType: 'node',
          MaxResults: max,
          ...body,
          ...(token ? { NextToken: token } : {}),
        });
        assert.equal(res.status, 200, JSON.stringify(res.body));
        const answer = res.body as ListTagResourcesAnswer;
        assert.ok(answer.TagResources.TagResource.length <= max);
        out.push(...answer.TagResources.TagResource);
        token = answer.NextToken;
        pages++;
      } while (token !== undefined && pages < 50);
      return out;
    }
    const whole = await all({}, 1000);
    const expected = [
      ['t1', 'gpu', 'h100'],
      ['t1', 'zone', 'z1'],
      ['t2', 'gpu', 'h100'],
      ['t2', 'rack', 'r13'],
      ['t3', 'gpu', 'h100'],
      ['t4', 'gpu', 'a10'],
    ];
    const flat = (rows: TagRow[]) => rows.map((r) => [r.ResourceId, r.TagKey, r.TagValue]);
    assert.deepEqual(flat(whole), expected);
    assert.ok(whole.every((r) => r.ResourceType === 'node'));
    for (const max of [1, 2, 4]) assert.deepEqual(flat(await all({}, max)), expected);
    assert.deepEqual(flat(await all({ ResourceId: ['t4', 't2'] }, 1)), [
      ['t2', 'gpu', 'h100'],
      ['t2', 'rack', 'r13'],
      ['t4', 'gpu', 'a10'],
    ]);
    const h100 = await all({ Tag: [{ Key: 'gpu', Value: 'h100' }] }, 2);
    assert.deepEqual([...new Set(h100.map((r) => r.ResourceId))], ['t1', 't2', 't3']);
  });

  void it('DryRun checks everything, records nothing and tells which targets are offline', async () => {
    const before_ = await quietKeys(stack);
    const res = await stack.call('RunCommand', {
      ResourceTag: [{ Key: 'gpu' }],
      CommandContent: 'echo {{who}}',
      EnableParameter: true,
      Parameters: { who: 'x' },
      RepeatMode: 'DryRun',
      ClientToken: 'dry-1',
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.DryRun, true);
    assert.equal(res.body.NodeCount, 4);
    assert.deepEqual(res.body.OfflineNodeIds, ['t4']);
    assert.equal(res.body.InvokeId, undefined);
    const list = await stack.call('RunCommand', {
      NodeIdList: ['t2'],
      CommandContent: 'true',
      Frequency: 'rate(1h)',
      RepeatMode: 'DryRun',
    });
    assert.equal(list.status, 200, JSON.stringify(list.body));
    assert.deepEqual(list.body.OfflineNodeIds, []);
    // A DryRun refuses what a real request would.
    const badFreq = await stack.call('RunCommand', {
      NodeIdList: ['t2'],
      CommandContent: 'true',
      Frequency: 'rate(1s)',
      RepeatMode: 'DryRun',
    });
    assert.equal(badFreq.status, 400);
    assert.equal(badFreq.body.Code, 'InvalidParameter.Frequency');
    const unknown = await stack.call('RunCommand', {
      NodeIdList: ['never'],
      CommandContent: 'true',
      RepeatMode: 'DryRun',
    });
    assert.equal(unknown.body.Code, 'InvalidNodeId.NotFound');
    assert.deepEqual(await quietKeys(stack), before_);
  });

  void it('refuses bad tags and targets with a 400 naming the field, creating nothing', async () => {
    const before_ = await quietKeys(stack);
    const cases: [string, Record<string, unknown>, string, RegExp][] = [
      [
        'RunCommand',
        { NodeIdList: ['t1'], ResourceTag: [{ Key: 'gpu' }], CommandContent: 'true' },
        'InvalidParameter',
        /NodeIdList, ResourceTag: give one of them, not both/,
      ],
      [
        'RunCommand',
        { CommandContent: 'true' },
        'MissingParameter',
        /NodeIdList is required \(or ResourceTag: one of them\)/,
      ],
      [
        'RunCommand',
        { ResourceTag: [{ Key: 'gpu', Value: 'none' }], CommandContent: 'true' },
        'InvalidParameter.ResourceTag',
        /ResourceTag: no node carries gpu=none/,
      ],
      [
        'SendFile',
        { ResourceTag: [{ Key: 'nope' }], Name: 'f', TargetDir: '/tmp', Content: 'x' },
        'InvalidParameter.ResourceTag',
        /ResourceTag: no node carries nope/,
      ],
      [
        'RunCommand',
        { ResourceTag: [{ Key: '' }], CommandContent: 'true' },
        'InvalidParameter',
        /ResourceTag\.0\.Key: a tag key must not be empty/,
      ],
      [
        'RunCommand',
        { ResourceTag: [], CommandContent: 'true' },
        'InvalidParameter',
        /ResourceTag: must hold at least one tag/,
      ],
      [
        'TagResources',
        { ResourceType: 'node', ResourceId: ['t1'], Tag: [{ Key: 'k'.repeat(129), Value: '' }] },
        'InvalidParameter',
        /Tag\.0\.Key: tag key .* is longer than 128 characters/,
      ],
      [
        'TagResources',
        { ResourceType: 'node', ResourceId: ['t1'], Tag: [{ Key: 'a', Value: 'v'.repeat(129) }] },
        'InvalidParameter',
        /Tag\.0\.Value: the value of tag "a" is longer than 128 characters/,
      ],
      [
        'TagResources',
        {
          ResourceType: 'node',
          ResourceId: ['t2', 't1'],
          Tag: Array.from({ length: 19 }, (_, i) => ({ Key: `k${i}`, Value: '' })),
        },
        'InvalidTagCount',
        /Tag: node "t2", "t1" would carry more than 20 tags/,
      ],
      [
        'TagResources',
        { ResourceType: 'node', ResourceId: ['t1', 'ghost'], Tag: [{ Key: 'a', Value: '' }] },
        'InvalidNodeId.NotFound',
        /ResourceId: node "ghost" has never registered/,
      ],
      [
        'TagResources',
        { ResourceType: 'vm', ResourceId: ['t1'], Tag: [{ Key: 'a', Value: '' }] },
        'InvalidParameter',
        /ResourceType/,
      ],
    ];
    for (const [action, body, code, message] of cases) {
      const res = await stack.call(action, body);
      assert.equal(res.status, 400, `${action} ${JSON.stringify(body)}`);
      assert.equal(res.body.Code, code, JSON.stringify(res.body));
      assert.match(String(res.body.Message), message);
    }
    assert.deepEqual(await quietKeys(stack), before_);
    assert.deepEqual(await tagsOf('t2'), { gpu: 'h100', rack: 'r13' });
  });
});

/** A tag target past NodeIdList's 1,000: its node list is kept (and read) apart from the hash. */
void describe('a tag target of more than 1,000 nodes', () => {
  let stack: Stack;
  const COUNT = 1_200;
  const ids = Array.from({ length: COUNT }, (_, i) => `big-${String(i).padStart(4, '0')}`);

  before(async () => {
    stack = await makeStack();
    // Registrations as agents write them (no agent process: nothing runs, runs are Aborted).
    for (let i = 0; i < COUNT; i += 100) {
      await Promise.all(
        ids.slice(i, i + 100).map(async (id) => {
          const store = new AgentStore(stack.redis, stack.keys, id);
          await store.register(1000, 'boot', { hostname: id, tags: '[["fleet","big"]]' });
          await store.announce(true);
        }),
      );
    }
    // Registered without the tag: a node outside every tag target below.
    const outsider = new AgentStore(stack.redis, stack.keys, 'outsider');
    await outsider.register(1000, 'boot', { hostname: 'outsider', tags: '[]' });
    await outsider.announce(true);
    await stack.waitFor('every node tagged', async () => {
      const res = await stack.call('RunCommand', {
        ResourceTag: [{ Key: 'fleet', Value: 'big' }],
        CommandContent: 'true',
        RepeatMode: 'DryRun',
      });
      return res.body.NodeCount === COUNT;
    });
  });
  after(async () => {
    await stack.close();
  });

  void it('records exactly the resolved nodes, in a list beside the hash', async () => {
    const invokeId = await run(stack, {
      ResourceTag: [{ Key: 'fleet', Value: 'big' }],
      CommandContent: 'true',
    });
    const key = stack.keys.invocation(invokeId);
    assert.equal(await stack.redis.hget(key, 'nodeIds'), null);
    assert.equal(await stack.redis.hget(key, 'nodeList'), String(COUNT));
    assert.deepEqual(await stack.redis.lrange(stack.keys.invocationNodes(invokeId), 0, -1), ids);
    assert.ok((await stack.redis.pttl(stack.keys.invocationNodes(invokeId))) > 0);
    const targets = stack.keys.invocationTargets(invokeId);
    assert.deepEqual((await stack.redis.smembers(targets)).sort(), ids);
    assert.ok((await stack.redis.pttl(targets)) > 0);
    for (const draft of [stack.keys.invocationNodes(invokeId), targets]) {
      assert.deepEqual(await keysUnder(stack.redis, draft), []);
    }
    const inv = await stack.describe(invokeId, { IncludeOutput: false });
    assert.equal(inv.InvokeNodes.InvokeNode.length, COUNT);
    // The scheduler's fan-out job reads the list back: every node gets its run record.
    await stack.waitFor('every node’s run record', async () => {
      // Sent together, not as one pipeline: a cluster refuses a pipeline across servers.
      const n = await Promise.all(
        ids.map((id) => stack.redis.exists(stack.keys.nodeRun(id, invokeId))),
      );
      return n.filter((x) => x === 1).length === COUNT;
    });
  });
  void it("a non-target node's forged RunFinished is not counted in a target of more than 1,000", async () => {
    // An outbox is writable by its node's agent: `outsider`, not among the 1,200 targets,
    // announces a failure of a run it never had, in a group of its own (exit code 77).
    const invokeId = await run(stack, {
      ResourceTag: [{ Key: 'fleet', Value: 'big' }],
      CommandContent: 'true',
      MaxConcurrency: '1',
      MaxErrors: '0',
    });
    const forge = (id: string) =>
      stack.redis.xadd(
        stack.keys.nodeEvents('outsider'),
        '*',
        'type',
        'RunFinished',
        'data',
        JSON.stringify({ InvokeId: id, InvocationStatus: 'Failed', ExitCode: 77, Fire: '' }),
      );
    await forge(invokeId);
    // Then one of its own runs ends the same way: the relay reads an outbox in order, so once
    // that end is counted, the forged one before it was read too.
    const own = await run(stack, { NodeIdList: ['outsider'], CommandContent: 'true' });
    await forge(own);
    const groupsOf = async (id: string) => {
      const sum = await stack.call('SummarizeInvocation', { InvokeId: id });
      assert.equal(sum.status, 200, JSON.stringify(sum.body));
      return (sum.body as unknown as SummarizeInvocationAnswer).Groups.Group;
    };
    await stack.waitFor('the outsider’s own end counted', async () =>
      (await groupsOf(own)).some((g) => g.NodeIds.NodeId.includes('outsider')),
    );
    const groups = await groupsOf(invokeId);
    assert.ok(!groups.some((g) => g.ExitCode === 77), JSON.stringify(groups));
    assert.ok(!groups.some((g) => g.NodeIds.NodeId.includes('outsider')), JSON.stringify(groups));
    assert.equal(await stack.redis.scard(stack.keys.invocationTargets(invokeId)), COUNT);
    assert.equal(
      await stack.redis.sismember(stack.keys.invocationTargets(invokeId), 'outsider'),
      0,
    );
    assert.equal((await stack.call('StopInvocation', { InvokeId: invokeId })).status, 200);
  });
  void it('a list of more than 10,000 is drafted first, and checked by its set all the same', async () => {
    // Straight to the store: no 12,345 registrations needed to see the long path.
    const many = Array.from({ length: 12_345 }, (_, i) => `far-${String(i).padStart(5, '0')}`);
    const inv = benchInvocation(many, 'true');
    await withStores(stack, async ({ invocations, runs }) => {
      assert.equal((await invocations.create(inv)).created, true);
      // A retry finds it and leaves no draft of its own.
      assert.equal((await invocations.create(inv)).created, false);
      assert.deepEqual((await invocations.get(inv.invokeId))?.nodeIds, many);
      const targets = stack.keys.invocationTargets(inv.invokeId);
      assert.equal(await stack.redis.scard(targets), many.length);
      assert.ok((await stack.redis.pttl(targets)) > 0);
      for (const draft of [stack.keys.invocationNodes(inv.invokeId), targets]) {
        assert.deepEqual(await keysUnder(stack.redis, draft), []);
      }
      const end = { status: 'Failed' as const, exitCode: '77', digest: '', error: true };
      assert.equal(await runs.rollouts.fold(inv.invokeId, '', 'outsider', end), 'Unknown');
      assert.equal(await runs.rollouts.fold(inv.invokeId, '', 'far-12344', end), 'Folded');
      // An invocation made before target sets existed has none: its ends are counted as then.
      await stack.redis.del(targets);
      assert.equal(await runs.rollouts.fold(inv.invokeId, '', 'far-00001', end), 'Folded');
    });
  });
});
