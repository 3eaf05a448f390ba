/**
 * A node must not break the fleet: with its own per-node Redis credentials (`fleetcmd node add`)
 * a compromised node writes whatever it likes into its own records (run record, history entry,
 * node info, stats), and the read actions still answer 200 for everyone, show the bad record as
 * that node's error, leave the other node's answers as they were, and take at most 24 KiB of a
 * run's output from Redis whatever size the node wrote.
 */
import assert from 'node:assert/strict';
import { brotliCompressSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { loadConfig } from '../../src/shared/config.js';
import type { RedisClient } from '../../src/store/redis.js';
import { OUTPUT_LIMIT_BYTES } from '../../src/domain/output.js';
import type {
  DescribeInvocationResultsAnswer,
  DescribeInvocationsAnswer,
  DescribeNodesAnswer,
  NodeView,
} from '../../src/api/schemas/response.js';
import { makeStack, run, runCli, type ApiResponse, type Stack } from '../helpers/stack.js';
import { send, signedRequest, testAccessKey } from '../helpers/rpc.js';
import { clientOf, onEachServer } from '../helpers/redis.js';

const A = 'hostile-a';
const B = 'honest-b';

interface NodeSettings {
  /** REDIS_URL, or on a cluster REDIS_CLUSTER_NODES, REDIS_USERNAME and REDIS_PASSWORD. */
  settings: Record<string, string>;
}

/** A raw connection with that node's own ACL user: what a compromised node can do. */
async function asNode(stack: Stack, nodeId: string): Promise<RedisClient> {
  const r = await runCli(['node', 'add', nodeId, '--json'], stack.env);
  assert.equal(r.code, 0, r.stderr);
  const { settings } = JSON.parse(r.stdout) as NodeSettings;
  const conn = clientOf(loadConfig(settings).redis);
  conn.on('error', () => undefined);
  return conn;
}

/** A registration as an agent writes it (the node's own user writes its own info hash). */
async function register(stack: Stack, conn: RedisClient, nodeId: string): Promise<void> {
  const now = Date.now();
  await conn.hset(stack.keys.nodeInfo(nodeId), {
    bootId: `boot-${nodeId}`,
    hostname: `${nodeId}.example`,
    osType: 'Linux',
    timeZone: 'UTC',
    agentVersion: '0.1.0',
    bootTimeMs: String(now - 60_000),
    registeredMs: String(now),
    lastHeartbeatMs: String(now),
    heartbeatSeconds: '100000',
  });
  await stack.redis.sadd(stack.keys.nodeRegistry(), nodeId);
}

const RUN_FIELDS = [
  'status',
  'createdMs',
  'updatedMs',
  'startedMs',
  'finishedMs',
  'stoppedMs',
  'exitCode',
  'errorCode',
  'errorInfo',
  'output',
  'outputCodec',
  'dropped',
  'repeats',
  'timed',
  'skipped',
  'fire',
  'fireMs',
];
const INFO_FIELDS = [
  'bootId',
  'hostname',
  'osType',
  'timeZone',
  'agentVersion',
  'bootTimeMs',
  'registeredMs',
  'lastHeartbeatMs',
  'heartbeatSeconds',
  'stoppedMs',
  'invocationCount',
  'lastInvokedMs',
];

/** What a hostile node writes into one field: `undefined` deletes the field. */
const garbage = fc.oneof(
  fc.constantFrom(
    undefined,
    '',
    '1e20',
    '-1e20',
    '-1',
    '-0',
    'NaN',
    'Infinity',
    '-Infinity',
    '9007199254740993',
    '1.5',
    '0x10',
    ' 12',
    'null',
    'Exploded',
    'running',
    '\u0000',
  ),
  fc.double().map(String),
  fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }).map(String),
  fc.string({ maxLength: 40 }),
  fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)),
  // Not UTF-8: a lone continuation byte and an overlong form.
  fc.constant(Buffer.from([0x80, 0xc0, 0xaf, 0xff])),
  fc.integer({ min: 5_000, max: 300_000 }).map((n) => 'x'.repeat(n)),
);

/** The record kinds a node writes, each with its key and fields. */
type Target = 'run' | 'periodic' | 'history' | 'info' | 'stats';

void describe('a hostile node cannot break the fleet', () => {
  let stack: Stack;
  let asA: RedisClient;
  let asB: RedisClient;
  const key = testAccessKey();
  let once = '';
  let periodic = '';
  /** Node B's part of every answer before node A wrote anything. */
  let baseline: unknown[] = [];
  /** Node A's records as they were before the test wrote anything (DUMP), to restore. */
  const saved = new Map<string, Buffer>();

  /** Puts node A's records back as they were (the admin connection: test set-up). */
  async function restoreA(): Promise<void> {
    for (const [k, dump] of saved) await stack.redis.restore(k, 0, dump, 'REPLACE');
    await stack.redis.del(stack.keys.nodeStats(A));
  }

  before(async () => {
    stack = await makeStack(key.settings);
    asA = await asNode(stack, A);
    asB = await asNode(stack, B);
    await register(stack, asA, A);
    await register(stack, asB, B);
    // No agent runs: the one-off run is Aborted at the delivery deadline, the periodic one
    // stays Scheduled (its first fire is a day away). Both stay put while the test writes.
    once = await run(stack, { NodeIdList: [A, B], CommandContent: 'echo hi' });
    periodic = await run(stack, {
      NodeIdList: [A, B],
      CommandContent: 'echo tick',
      Frequency: 'rate(1d)',
      RepeatMode: 'Period',
    });
    await stack.waitFor('the one-off run to be Aborted on both nodes', async () => {
      const inv = await stack.describe(once);
      return inv.InvokeNodes.InvokeNode.every((n) => n.InvocationStatus === 'Aborted');
    });
    await stack.waitFor('the periodic records', async () => {
      const n = await Promise.all(
        [A, B].map((id) => stack.redis.exists(stack.keys.nodeRun(id, periodic))),
      );
      return n.every((x) => x === 1);
    });
    // A past run in node A's history, as the settle script writes it.
    await asA.rpush(stack.keys.runHistory(A, periodic), '1');
    await asA.hset(stack.keys.runHistoryEntry(A, periodic, 1), {
      status: 'Success',
      fire: 'f1',
      startedMs: String(Date.now() - 1000),
      finishedMs: String(Date.now()),
      exitCode: '0',
      output: 'tick\n',
      dropped: '0',
      repeats: '1',
    });
    for (const t of ['run', 'periodic', 'history', 'info'] as const) {
      const dump = await stack.redis.dumpBuffer(keyOf(t));
      assert.ok(dump, t);
      saved.set(keyOf(t), dump);
    }
    const answers = await readAll();
    assertNo5xx(answers, 'before any garbage');
    baseline = partOfB(answers);
  });

  after(async () => {
    asA?.disconnect();
    asB?.disconnect();
    await stack?.close();
  });

  function keyOf(t: Target): string {
    switch (t) {
      case 'run':
        return stack.keys.nodeRun(A, once);
      case 'periodic':
        return stack.keys.nodeRun(A, periodic);
      case 'history':
        return stack.keys.runHistoryEntry(A, periodic, 1);
      case 'info':
        return stack.keys.nodeInfo(A);
      case 'stats':
        return stack.keys.nodeStats(A);
    }
  }

  /** Every read action that touches node records, as the server answers it. */
  async function readAll(): Promise<Record<string, ApiResponse>> {
    const out: Record<string, ApiResponse> = {};
    const rest: [string, string, Record<string, unknown>][] = [
      ['inv-once', 'DescribeInvocations', { InvokeId: once, IncludeOutput: true }],
      ['inv-list', 'DescribeInvocations', { IncludeOutput: true }],
      ['inv-list-a', 'DescribeInvocations', { NodeId: A, InvokeStatus: 'Failed' }],
      ['res-once', 'DescribeInvocationResults', { InvokeId: once }],
      ['res-hist', 'DescribeInvocationResults', { InvokeId: periodic, IncludeHistory: true }],
      ['res-list', 'DescribeInvocationResults', { InvokeRecordStatus: 'Failed' }],
      ['nodes', 'DescribeNodes', {}],
      ['node-a', 'DescribeNodes', { NodeId: A }],
      ['node-b', 'DescribeNodes', { NodeId: B }],
    ];
    await Promise.all(
      rest.map(async ([name, action, body]) => (out[name] = await stack.call(action, body))),
    );
    out.rpc = await send(
      signedRequest(stack, key, {
        version: '2022-12-15',
        action: 'DescribeCloudAssistantStatus',
        form: { MaxResults: '50' },
      }),
    );
    const metrics = await fetch(`${stack.url}/metrics`, {
      headers: { authorization: `Bearer ${stack.token}` },
    });
    out.metrics = { status: metrics.status, body: { text: await metrics.text() } };
    return out;
  }

  /** Node B's part of every answer, with what time alone changes left out. */
  function partOfB(answers: Record<string, ApiResponse>): unknown[] {
    const parts: unknown[] = [];
    for (const name of ['inv-once', 'inv-list']) {
      const invs = (answers[name]?.body as DescribeInvocationsAnswer).Invocations.Invocation;
      for (const inv of invs) parts.push(inv.InvokeNodes.InvokeNode.filter((n) => n.NodeId === B));
    }
    for (const name of ['res-once', 'res-hist']) {
      const rows = (answers[name]?.body as DescribeInvocationResultsAnswer).Invocation
        .InvocationResults.InvocationResult;
      parts.push(rows.filter((r) => r.NodeId === B));
    }
    for (const name of ['nodes', 'node-b']) {
      const nodes = (answers[name]?.body as DescribeNodesAnswer).Nodes.Node;
      parts.push(nodes.filter((n) => n.NodeId === B).map(({ Online: _o, ...n }: NodeView) => n));
    }
    return parts;
  }

  function assertNo5xx(answers: Record<string, ApiResponse>, what: string): void {
    for (const [name, res] of Object.entries(answers)) {
      assert.ok(
        res.status < 500,
        `${what}: ${name} answered ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`,
      );
    }
  }

  /** Node A's row of the one-off invocation's results, as readAll() answered it. */
  function onceRowOfA(answers: Awaited<ReturnType<typeof readAll>>) {
    const rows = (answers['res-once']?.body as DescribeInvocationResultsAnswer).Invocation
      .InvocationResults.InvocationResult;
    return rows.find((r) => r.NodeId === A);
  }

  void it('the review’s case: finishedMs 1e20 and bootTimeMs 1e20 show as node A’s error', async () => {
    await restoreA();
    await asA.hset(keyOf('run'), 'finishedMs', '1e20');
    await asA.hset(keyOf('info'), 'bootTimeMs', '1e20');
    const answers = await readAll();
    assertNo5xx(answers, 'finishedMs/bootTimeMs 1e20');
    assert.deepEqual(partOfB(answers), baseline);
    const rowA = onceRowOfA(answers);
    assert.equal(rowA?.InvocationStatus, 'Error');
    assert.equal(rowA?.ErrorCode, 'InvalidRunRecord');
    assert.match(rowA?.ErrorInfo ?? '', /finishedMs/);
    const nodeA = (answers['node-a']?.body as DescribeNodesAnswer).Nodes.Node[0];
    assert.equal(nodeA?.NodeId, A);
    assert.equal(nodeA?.BootTime, '');
    assert.equal(nodeA?.Online, false);
  });

  void it('garbage in any field of node A’s records never yields a 5xx nor changes node B', async () => {
    await restoreA();
    const write = fc.oneof(
      ...(['run', 'periodic', 'history'] as const).map((t) =>
        fc.record({
          target: fc.constant(t),
          field: fc.constantFrom(...RUN_FIELDS),
          value: garbage,
        }),
      ),
      fc.record({
        target: fc.constant('info' as const),
        field: fc.constantFrom(...INFO_FIELDS),
        value: garbage,
      }),
      fc.record({
        target: fc.constant('stats' as const),
        field: fc.constantFrom('Success', 'Failed', 'Exploded', 'x'.repeat(300)),
        value: garbage,
      }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(write, { minLength: 1, maxLength: 6 }), async (writes) => {
        for (const { target, field, value } of writes) {
          if (value === undefined) await asA.hdel(keyOf(target), field);
          else await asA.hset(keyOf(target), field, value);
        }
        const answers = await readAll();
        assertNo5xx(answers, JSON.stringify(writes).slice(0, 500));
        assert.deepEqual(partOfB(answers), baseline);
      }),
      { numRuns: 60 },
    );
  });

  void it('compressed output that would decode past 24 KiB, or is not brotli, is node A’s error', async () => {
    // 64 MiB of zeros in brotli is a few hundred bytes: the server stops decoding at the limit.
    const bomb = brotliCompressSync(Buffer.alloc(64 * 1024 * 1024));
    assert.ok(bomb.length < 1024, `bomb of ${bomb.length} bytes`);
    for (const output of [bomb, Buffer.from('not brotli at all')]) {
      await restoreA();
      await asA.hset(keyOf('run'), { status: 'Success', output, outputCodec: 'br', exitCode: '0' });
      const answers = await readAll();
      assertNo5xx(answers, 'compressed output');
      assert.deepEqual(partOfB(answers), baseline);
      const rowA = onceRowOfA(answers);
      assert.equal(rowA?.InvocationStatus, 'Error');
      assert.equal(rowA?.ErrorCode, 'InvalidRunRecord');
      assert.match(
        rowA?.ErrorInfo ?? '',
        /output \(not valid compressed output within the limit\)/,
      );
    }
  });

  void it('64 MB of output: each read takes at most 24 KiB of it from Redis', async () => {
    await restoreA();
    const big = 64 * 1024 * 1024;
    const output = Buffer.alloc(big, 'a');
    output.write('HEAD', 0);
    output.write('TAIL', big - 4);
    await asA.hset(keyOf('run'), { status: 'Failed', output, dropped: '100', exitCode: '1' });
    const rowOfA = (res: ApiResponse) =>
      (
        res.body as DescribeInvocationResultsAnswer
      ).Invocation.InvocationResults.InvocationResult.find((r) => r.NodeId === A);
    const sent = async () => {
      // Every server's (on a cluster the run record is on one master of several).
      const infos = await onEachServer(stack.redis, (r) => r.info('stats'));
      return infos.reduce(
        (sum, info) => sum + Number(/total_net_output_bytes:(\d+)/.exec(info)?.[1]),
        0,
      );
    };
    for (let i = 0; i < 5; i++) {
      const before = await sent();
      const res = await stack.call('DescribeInvocationResults', {
        InvokeId: once,
        ContentEncoding: 'PlainText',
      });
      const during = (await sent()) - before;
      assert.equal(res.status, 200);
      const row = rowOfA(res);
      assert.ok(row);
      const bytes = Buffer.byteLength(row.Output);
      assert.ok(bytes <= OUTPUT_LIMIT_BYTES, `Output is ${bytes} bytes`);
      assert.ok(row.Output.startsWith('HEAD') && row.Output.endsWith('TAIL'));
      assert.equal(row.Dropped, 100 + big - bytes);
      assert.ok(during < 1024 * 1024, `Redis sent ${during} bytes for one call`);
    }
    const before = await sent();
    const inv = await stack.describe(once);
    assert.ok((await sent()) - before < 1024 * 1024);
    const nodeA = inv.InvokeNodes.InvokeNode.find((n) => n.NodeId === A);
    assert.ok(Buffer.byteLength(nodeA?.Output ?? '') <= OUTPUT_LIMIT_BYTES);
  });
});
