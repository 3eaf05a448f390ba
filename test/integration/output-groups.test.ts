import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { HANG_MS } from '../helpers/hang.js';
import { makeStack, run, runCli, waitFinal, type Stack } from '../helpers/stack.js';
import type { SummarizeInvocationAnswer } from '../../src/api/schemas/summary.js';

const NODES = ['g1', 'g2', 'g3', 'g4', 'g5', 'g6'];
const sha = (text: string) => createHash('sha256').update(text).digest('hex');

void describe('output groups (SummarizeInvocation), RerunInvocation and the CLI', () => {
  let stack: Stack;
  let env: Record<string, string>;
  let invokeId: string;

  before(async () => {
    stack = await makeStack();
    await Promise.all(NODES.map((n) => stack.startAgent(n)));
    env = { FLEETCMD_URL: stack.url, FLEETCMD_API_TOKEN: stack.token };
    invokeId = await run(stack, {
      NodeIdList: NODES,
      EnableParameter: true,
      CommandContent: 'case {{ACS::NodeId}} in g2|g5) echo disk full; exit 2;; *) echo ok;; esac',
    });
    await waitFinal(stack, invokeId, HANG_MS);
  });
  after(async () => {
    await stack.close();
  });

  void it('groups ended runs by status, exit code and output digest, largest first', async () => {
    const res = await stack.call('SummarizeInvocation', {
      InvokeId: invokeId,
      IncludeOutput: true,
      ContentEncoding: 'PlainText',
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const groups = (res.body as unknown as SummarizeInvocationAnswer).Groups.Group;
    assert.deepEqual(groups, [
      {
        InvocationStatus: 'Success',
        ExitCode: 0,
        OutputDigest: sha('ok\n'),
        NodeCount: 4,
        NodeIds: { NodeId: groups[0]?.NodeIds.NodeId },
        Output: 'ok\n',
      },
      {
        InvocationStatus: 'Failed',
        ExitCode: 2,
        OutputDigest: sha('disk full\n'),
        NodeCount: 2,
        NodeIds: { NodeId: groups[1]?.NodeIds.NodeId },
        Output: 'disk full\n',
      },
    ]);
    assert.deepEqual([...(groups[0]?.NodeIds.NodeId ?? [])].sort(), ['g1', 'g3', 'g4', 'g6']);
    assert.deepEqual([...(groups[1]?.NodeIds.NodeId ?? [])].sort(), ['g2', 'g5']);
    const unknown = await stack.call('SummarizeInvocation', { InvokeId: 't-nosuchinvocation1' });
    assert.equal(unknown.status, 404);
  });

  void it("keeps a small invocation's groups compact, and reads a group kept under the hex digest as the same group", async () => {
    const key = stack.keys.invocationGroups(invokeId);
    // Two groups, fields within Redis's 64-byte listpack value: the hash stays a listpack.
    assert.equal(await stack.redis.object('ENCODING', key), 'listpack');
    // As an invocation counted partly before the short digest form existed keeps it: the
    // Success group's count and nodes split between the hex field and the short one.
    const fields = await stack.redis.hgetall(key);
    const short = Object.keys(fields).find((f) => f.startsWith('c Success\t'));
    assert.ok(short, JSON.stringify(fields));
    const group = short.slice(2);
    const hexGroup = `Success\t0\t${sha('ok\n')}`;
    assert.notEqual(group, hexGroup);
    await stack.redis.hset(key, `c ${group}`, '3', `c ${hexGroup}`, '1', `n ${hexGroup}`, 'g9');
    try {
      const res = await stack.call('SummarizeInvocation', { InvokeId: invokeId });
      const groups = (res.body as unknown as SummarizeInvocationAnswer).Groups.Group;
      assert.equal(groups.length, 2, JSON.stringify(groups));
      assert.equal(groups[0]?.OutputDigest, sha('ok\n'));
      assert.equal(groups[0]?.NodeCount, 4);
      assert.deepEqual([...(groups[0]?.NodeIds.NodeId ?? [])].sort(), [
        'g1',
        'g3',
        'g4',
        'g6',
        'g9',
      ]);
    } finally {
      await stack.redis.hdel(key, `c ${hexGroup}`, `n ${hexGroup}`);
      await stack.redis.hset(key, `c ${group}`, '4');
    }
  });

  void it('fleetcmd describe prints the groups over 5 nodes, and every node with --by-node', async () => {
    const grouped = await runCli(['describe', invokeId], env);
    assert.equal(grouped.code, 0, grouped.stderr);
    assert.match(grouped.stdout, /^4 nodes {2}Success exit 0 {2}\| ok$/m);
    assert.match(grouped.stdout, /^2 nodes {2}Failed exit 2 {2}\| disk full$/m);
    const byNode = await runCli(['describe', invokeId, '--by-node'], env);
    assert.equal(byNode.code, 0, byNode.stderr);
    for (const n of NODES) assert.match(byNode.stdout, new RegExp(`^${n}\\s`, 'm'));
  });

  void it('rerun runs the same content again on the nodes that did not succeed', async () => {
    const res = await runCli(['rerun', invokeId, '--wait', '--json'], env);
    assert.equal(res.code, 1, res.stderr);
    const lines = res.stdout.trim().split('\n');
    const first = JSON.parse(lines[0] ?? '{}') as { InvokeId: string };
    const again = await waitFinal(stack, first.InvokeId, HANG_MS);
    assert.deepEqual(again.InvokeNodes.InvokeNode.map((n) => n.NodeId).sort(), ['g2', 'g5']);
    for (const n of again.InvokeNodes.InvokeNode) assert.equal(n.Output, 'disk full\n');
    const none = await stack.call('RerunInvocation', { InvokeId: invokeId, Status: ['Timeout'] });
    assert.equal(none.status, 400);
    assert.equal(none.body.Code, 'InvalidParameter.Status');
  });
});
