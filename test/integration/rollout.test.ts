import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { HANG_MS } from '../helpers/hang.js';
import { makeStack, quietKeys, run, waitFinal, type Stack } from '../helpers/stack.js';
import type { SummarizeInvocationAnswer } from '../../src/api/schemas/summary.js';

/** Most intervals that overlap at any one moment. */
function maxOverlap(intervals: readonly [number, number][]): number {
  const edges = intervals.flatMap(([s, e]) => [
    [s, 1],
    [e, -1],
  ]);
  // An end sorts before a start at the same instant: touching is not overlapping.
  edges.sort((a, b) => (a[0] ?? 0) - (b[0] ?? 0) || (a[1] ?? 0) - (b[1] ?? 0));
  let now = 0;
  let most = 0;
  for (const [, d] of edges) {
    now += d ?? 0;
    most = Math.max(most, now);
  }
  return most;
}

/** Each line `<startNs> <endNs> [fire]` the commands wrote into `dir`, with its node. */
async function intervalsIn(
  dir: string,
): Promise<{ node: string; fire: string; at: [number, number] }[]> {
  const out: { node: string; fire: string; at: [number, number] }[] = [];
  for (const node of await readdir(dir)) {
    for (const line of (await readFile(join(dir, node), 'utf8')).split('\n')) {
      const [s, e, fire = ''] = line.trim().split(' ');
      if (s && e) out.push({ node, fire, at: [Number(s) / 1e6, Number(e) / 1e6] });
    }
  }
  return out;
}

/** A command that records when it ran (ns since the epoch), one line per run, per node. */
function timed(dir: string, body: string): string {
  return `s=$(date +%s%N); ${body}; e=$(date +%s%N); echo "$s $e $FLEETCMD_FIRE_ID" >> ${dir}/{{ACS::NodeId}}`;
}

const NODES = ['n1', 'n2', 'n3', 'n4', 'n5', 'n6'];

void describe('rollout control (MaxConcurrency, MaxErrors) on real agents', () => {
  let stack: Stack;
  let root: string;

  before(async () => {
    stack = await makeStack({ FLEETCMD_MIN_INTERVAL_SECONDS: '1' });
    await Promise.all(NODES.map((n) => stack.startAgent(n)));
    root = await mkdtemp(join(tmpdir(), 'fleetcmd-rollout-'));
  });
  after(async () => {
    await stack.close();
    await rm(root, { recursive: true, force: true });
  });

  const dirFor = async (name: string) => {
    const d = join(root, name);
    await (await import('node:fs/promises')).mkdir(d);
    return d;
  };

  void it('MaxConcurrency 2 on 6 nodes: never more than 2 run at once, and all run', async () => {
    const dir = await dirFor('mc2');
    const id = await run(stack, {
      NodeIdList: NODES,
      CommandContent: timed(dir, 'sleep 0.5'),
      EnableParameter: true,
      MaxConcurrency: '2',
    });
    const inv = await waitFinal(stack, id, HANG_MS);
    assert.equal(inv.InvocationStatus, 'Success');
    // DescribeInvocations shows the limits as sent (and none on an invocation without them).
    assert.equal(inv.MaxConcurrency, '2');
    assert.equal('MaxErrors' in inv, false);
    const runs = await intervalsIn(dir);
    assert.deepEqual(runs.map((r) => r.node).sort(), NODES);
    assert.ok(maxOverlap(runs.map((r) => r.at)) <= 2, JSON.stringify(runs));
  });

  void it('a percentage rounds up to at least one node: "10%" of 3 runs one at a time', async () => {
    const dir = await dirFor('pct');
    const id = await run(stack, {
      NodeIdList: ['n1', 'n2', 'n3'],
      CommandContent: timed(dir, 'sleep 0.3'),
      EnableParameter: true,
      MaxConcurrency: '10%',
    });
    assert.equal((await waitFinal(stack, id, HANG_MS)).InvocationStatus, 'Success');
    const runs = await intervalsIn(dir);
    assert.equal(runs.length, 3);
    assert.equal(maxOverlap(runs.map((r) => r.at)), 1);
  });

  void it('MaxErrors 1: once two nodes failed, the nodes not started end Cancelled', async () => {
    const id = await run(stack, {
      NodeIdList: NODES,
      CommandContent: 'exit 3',
      MaxConcurrency: '1',
      MaxErrors: '1',
    });
    const inv = await waitFinal(stack, id, HANG_MS);
    const nodes = inv.InvokeNodes.InvokeNode;
    const failed = nodes.filter((n) => n.InvocationStatus === 'Failed');
    const cancelled = nodes.filter((n) => n.InvocationStatus === 'Cancelled');
    assert.equal(failed.length, 2, JSON.stringify(nodes));
    assert.equal(cancelled.length, 4);
    for (const n of cancelled) {
      assert.equal(n.ErrorCode, 'MaxErrorsExceeded');
      assert.match(n.ErrorInfo ?? '', /MaxErrors/);
      assert.equal(n.Repeats, 0);
    }
    // SPEC §4 as it stands: all in {Cancelled, Failed, ...} -> Failed.
    assert.equal(inv.InvocationStatus, 'Failed');
  });

  void it('MaxErrors alone (no MaxConcurrency) and no error: every node runs', async () => {
    const id = await run(stack, {
      NodeIdList: ['n1', 'n2'],
      CommandContent: 'exit 0',
      MaxErrors: '0',
    });
    assert.equal((await waitFinal(stack, id, HANG_MS)).InvocationStatus, 'Success');
  });

  void it('a Period invocation applies the limits to each fire', async () => {
    const dir = await dirFor('period');
    const id = await run(stack, {
      NodeIdList: ['n1', 'n2', 'n3'],
      CommandContent: timed(dir, 'sleep 0.2'),
      EnableParameter: true,
      Frequency: 'rate(2s)',
      MaxConcurrency: '1',
    });
    const runs = await stack.waitFor(
      'two fires on every node',
      async () => {
        const all = await intervalsIn(dir).catch(() => []);
        const fires = new Set(all.map((r) => r.fire));
        const full = [...fires].filter((f) => all.filter((r) => r.fire === f).length === 3);
        return full.length >= 2 ? all : undefined;
      },
      HANG_MS,
    );
    assert.equal((await stack.call('StopInvocation', { InvokeId: id })).status, 200);
    const byFire = new Map<string, [number, number][]>();
    for (const r of runs) byFire.set(r.fire, [...(byFire.get(r.fire) ?? []), r.at]);
    for (const [fire, at] of byFire) assert.equal(maxOverlap(at), 1, `fire ${fire}`);
  });

  void it("a node's forged RunFinished cannot cancel a rollout it was not released in", async () => {
    // An outbox is writable by its node's agent: n3 announces a failure of a run it was never
    // given (MaxConcurrency 1: n1 runs first). It must not count as an error under MaxErrors 0.
    const id = await run(stack, {
      NodeIdList: ['n1', 'n2', 'n3'],
      CommandContent: 'sleep 1',
      MaxConcurrency: '1',
      MaxErrors: '0',
    });
    await stack.waitFor('n1 running', async () => {
      const inv = await stack.describe(id);
      return inv.InvokeNodes.InvokeNode.some(
        (n) => n.NodeId === 'n1' && n.InvocationStatus === 'Running',
      );
    });
    // n4, not a target at all, announces one too: it is not counted anywhere.
    const forged = { InvokeId: id, InvocationStatus: 'Failed', ExitCode: 1, Fire: '' };
    for (const n of ['n4', 'n3']) {
      await stack.redis.xadd(
        stack.keys.nodeEvents(n),
        '*',
        'type',
        'RunFinished',
        'data',
        JSON.stringify(forged),
      );
    }
    const nodes = await stack.waitFor(
      'n1 and n2 ended',
      async () => {
        const all = (await stack.describe(id)).InvokeNodes.InvokeNode;
        const ended = all.filter((n) => n.NodeId !== 'n3' && n.InvocationStatus !== 'Pending');
        return ended.length === 2 && ended.every((n) => n.InvocationStatus !== 'Running')
          ? all
          : undefined;
      },
      HANG_MS,
    );
    for (const n of nodes.filter((x) => x.NodeId !== 'n3')) {
      assert.equal(n.InvocationStatus, 'Success', JSON.stringify(nodes));
    }
    const sum = await stack.call('SummarizeInvocation', { InvokeId: id });
    const groups = (sum.body as unknown as SummarizeInvocationAnswer).Groups.Group;
    assert.ok(!groups.some((g) => g.NodeIds.NodeId.includes('n4')), JSON.stringify(groups));
    // n3 passed itself over (its own record is its own to lie about); stop what is left.
    assert.equal((await stack.call('StopInvocation', { InvokeId: id })).status, 200);
  });

  void it('refuses a bad limit with a 400 naming the field, creating nothing', async () => {
    const before = await quietKeys(stack);
    const cases: [Record<string, unknown>, string][] = [
      [{ MaxConcurrency: '150%' }, 'InvalidParameter.MaxConcurrency'],
      [{ MaxConcurrency: '0' }, 'InvalidParameter.MaxConcurrency'],
      [{ MaxConcurrency: 'ten' }, 'InvalidParameter.MaxConcurrency'],
      [{ MaxErrors: '101%' }, 'InvalidParameter.MaxErrors'],
      [{ MaxErrors: '-1' }, 'InvalidParameter.MaxErrors'],
      [{ MaxErrors: '1', RepeatMode: 'EveryReboot' }, 'InvalidParameter.MaxErrors'],
    ];
    for (const [extra, code] of cases) {
      const res = await stack.call('RunCommand', {
        NodeIdList: ['n1'],
        CommandContent: 'true',
        ...extra,
      });
      assert.equal(res.status, 400, JSON.stringify(extra));
      assert.equal(res.body.Code, code, JSON.stringify(res.body));
      const field = code.split('.')[1] ?? '';
      assert.match(String(res.body.Message), new RegExp(`^${field}:`));
    }
    assert.deepEqual(await quietKeys(stack), before);
  });
});
