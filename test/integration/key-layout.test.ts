import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { HISTORY_SUFFIXES, Keys } from '../../src/store/keys.js';
import { NodeCredentials } from '../../src/store/node-acl.js';
import { enrollNode } from '../helpers/enroll.js';
import { upkeepOnce } from '../helpers/promises.js';
import { clientOf, keysUnder } from '../helpers/redis.js';
import { send, signedRequest, testAccessKey } from '../helpers/rpc.js';
import { makeStack, run, runCli, waitFinal, type Stack } from '../helpers/stack.js';

/** Redis Cluster's key slot: CRC16 (XMODEM) of the hash tag, or of the whole key. */
function slot(key: string): number {
  const open = key.indexOf('{');
  let k = key;
  if (open >= 0) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) k = key.slice(open + 1, close);
  }
  let crc = 0;
  for (const byte of Buffer.from(k)) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++)
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % 16384;
}

/**
 * One row per kind of key the system writes. A later feature that writes a new kind of key adds
 * its row (and drives it below); a key of no row fails the test.
 */
interface KeyKind {
  kind: string;
  /** The key's shape after `<prefix>:`; group 1 is its hash tag's content. */
  shape: RegExp;
  /**
   * Whose key it is: `node`: the node named by its tag, whose ACL user may touch it and no other
   * node's may; `server`: no node's ACL user may touch it.
   */
  owner: 'node' | 'server';
  /**
   * Which keys it shares a hash slot with, for the scripts and BullMQ's calls that take several
   * keys at once: `node`: the node's own keys (its info hash); `global`: the `{global}`
   * indexes; `sched`: the scheduler queue; `own`: used alone (its own tag); `none`: used
   * alone, no tag (the rate limiter's counters).
   */
  slotWith: 'node' | 'global' | 'sched' | 'own' | 'none';
  /** Written only for a while (this test may find none). */
  transient?: boolean;
}

const ID = '[A-Za-z0-9_.-]+';
const ADMIN = randomBytes(16).toString('hex');
const INV = '[tf]-[a-z0-9]+';
const HIST_LIST = HISTORY_SUFFIXES.list;
const HIST_ENTRY = HISTORY_SUFFIXES.entry;

const KEY_KINDS: readonly KeyKind[] = [
  { kind: 'node info', shape: /^node:\{([^}]+)\}:info$/, owner: 'node', slotWith: 'node' },
  {
    kind: 'node run record',
    shape: new RegExp(`^node:\\{([^}]+)\\}:run:${INV}$`),
    owner: 'node',
    slotWith: 'node',
  },
  {
    kind: 'run history list',
    shape: new RegExp(`^node:\\{([^}]+)\\}:run:${INV}${HIST_LIST}$`),
    owner: 'node',
    slotWith: 'node',
  },
  {
    kind: 'run history entry',
    shape: new RegExp(`^node:\\{([^}]+)\\}:run:${INV}${HIST_ENTRY}\\d+$`),
    owner: 'node',
    slotWith: 'node',
  },
  { kind: 'node boot triggers', shape: /^node:\{([^}]+)\}:boot$/, owner: 'node', slotWith: 'node' },
  {
    kind: 'node active runs',
    shape: /^node:\{([^}]+)\}:active$/,
    owner: 'node',
    slotWith: 'node',
    transient: true,
  },
  { kind: 'node stats', shape: /^node:\{([^}]+)\}:stats$/, owner: 'node', slotWith: 'node' },
  {
    kind: 'node event outbox',
    shape: /^node:\{([^}]+)\}:events$/,
    owner: 'node',
    slotWith: 'node',
  },
  {
    kind: 'node invocation index',
    shape: /^node:\{([^}]+)\}:invocations$/,
    owner: 'node',
    slotWith: 'node',
  },
  { kind: 'node run queue', shape: /^nq:\{([^}]+)\}:/, owner: 'node', slotWith: 'node' },
  { kind: 'scheduler queue', shape: /^sq:\{(sched)\}:/, owner: 'server', slotWith: 'sched' },
  {
    kind: 'invocation',
    shape: new RegExp(`^inv:\\{(${INV})\\}$`),
    owner: 'server',
    slotWith: 'own',
  },
  {
    kind: 'invocation node list and target set (more than 1,000 nodes)',
    shape: new RegExp(`^inv:\\{(${INV})\\}:(nodes|targets)$`),
    owner: 'server',
    slotWith: 'own',
    // Only a target of more than 1,000 nodes has them (tags.test.ts drives one).
    transient: true,
  },
  {
    kind: 'invocation output groups',
    shape: new RegExp(`^inv:\\{(${INV})\\}:groups$`),
    owner: 'server',
    slotWith: 'own',
  },
  {
    kind: 'runs counted per fire',
    shape: new RegExp(`^inv:\\{(${INV})\\}:folded:(f\\d+)?$`),
    owner: 'server',
    slotWith: 'own',
  },
  {
    kind: 'rollout state, queue and active nodes',
    shape: new RegExp(`^inv:\\{(${INV})\\}:ro:(f\\d+)?(:q|:a)?$`),
    owner: 'server',
    slotWith: 'own',
  },
  { kind: 'saved command', shape: /^cmd:\{([^}]+)\}$/, owner: 'server', slotWith: 'own' },
  { kind: 'ClientToken', shape: /^ct:\{([0-9a-f]{64})\}$/, owner: 'server', slotWith: 'own' },
  {
    kind: 'RPC signature nonce',
    shape: new RegExp(`^nonce:\\{(${ID})\\}:[0-9a-f]+$`),
    owner: 'server',
    slotWith: 'own',
  },
  {
    kind: 'global index',
    shape:
      /^\{(global)\}:(invocations|nodes|sendfiles|commands|timed|node-index-ready|access-keys|events|event-relay|audit|activations)$/,
    owner: 'server',
    slotWith: 'global',
  },
  {
    kind: 'undispatched index',
    shape: /^\{(global)\}:undispatched$/,
    owner: 'server',
    slotWith: 'global',
    transient: true,
  },
  {
    kind: 'delivery deadlines',
    shape: /^\{(global)\}:deadlines$/,
    owner: 'server',
    slotWith: 'global',
    transient: true,
  },
  {
    kind: 'finishing index',
    shape: /^\{(global)\}:finishing$/,
    owner: 'server',
    slotWith: 'global',
    transient: true,
  },
  {
    kind: 'invocation event tally',
    shape: new RegExp(`^\\{(global)\\}:evinv:${INV}$`),
    owner: 'server',
    slotWith: 'global',
  },
  { kind: 'rate-limit counter', shape: /^rl:[ta]:()/, owner: 'server', slotWith: 'none' },
  // Enrollment: an activation and its registered nodes (one tag, for act-*.lua), and how each
  // node registered (outside the node's own keys: its agent may not rewrite it).
  { kind: 'activation', shape: /^act:\{([^}]+)\}$/, owner: 'server', slotWith: 'own' },
  { kind: 'activation nodes', shape: /^act:\{([^}]+)\}:nodes$/, owner: 'server', slotWith: 'own' },
  { kind: 'node enrollment', shape: /^enroll:\{([^}]+)\}$/, owner: 'server', slotWith: 'own' },
  {
    kind: 'RegisterNode rate-limit counter',
    shape: /^rl-register:POST\/v1\/RegisterNode-()[0-9a-f.:]+$/,
    owner: 'server',
    slotWith: 'none',
  },
  {
    kind: 'webhook delivery queue',
    shape: /^wq:\{(webhooks)\}:/,
    owner: 'server',
    slotWith: 'own',
  },
  {
    // Only while a webhook exists (test/integration/webhooks.test.ts makes them).
    kind: 'webhook',
    shape: /^\{(global)\}:(webhooks|wh-cursor|(wh|whq|whlog):wh-[0-9a-f]{16})$/,
    owner: 'server',
    slotWith: 'global',
    transient: true,
  },
];

/** The global indexes each expected at least once (one row above covers them all). */
const GLOBAL_INDEXES = [
  'invocations',
  'nodes',
  'sendfiles',
  'commands',
  'timed',
  'node-index-ready',
  'access-keys',
  'events',
  'event-relay',
  'audit',
  'activations',
];

function kindsOf(prefix: string, key: string): { kind: KeyKind; tag: string }[] {
  if (!key.startsWith(`${prefix}:`)) return [];
  const rest = key.slice(prefix.length + 1);
  return KEY_KINDS.flatMap((kind) => {
    const m = kind.shape.exec(rest);
    return m ? [{ kind, tag: m[1] ?? '' }] : [];
  });
}

void describe('key layout: every key the system writes', () => {
  let stack: Stack;
  let dir: string;
  const key = testAccessKey();
  const NODES = ['lay1', 'lay2'];
  /** A node registered with an activation (its Redis user made by RegisterNode; no agent). */
  const ENROLLED = 'lay-reg';

  before(async () => {
    stack = await makeStack({
      ...key.settings,
      FLEETCMD_API_TOKENS: `ops:admin:${ADMIN}`,
      FLEETCMD_MIN_INTERVAL_SECONDS: '1',
      FLEETCMD_RATE_LIMIT: '100000',
    });
    dir = await mkdtemp(join(tmpdir(), 'fc-layout-'));
    for (const n of NODES) await stack.startAgent(n);
  });
  after(async () => {
    await stack.close();
    await rm(dir, { recursive: true, force: true });
  });

  void it('each multi-key group shares one hash slot; nodes spread over slots', () => {
    const keys = new Keys('fc');
    for (const node of ['n1', 'web-01', 'a.b_c']) {
      const s = slot(keys.nodeInfo(node));
      assert.equal(slot(keys.nodeRun(node, 't-abc')), s);
      assert.equal(slot(keys.runHistory(node, 't-abc')), s);
      assert.equal(slot(keys.runHistoryEntry(node, 't-abc', 3)), s);
      assert.equal(slot(keys.nodeBoot(node)), s);
      assert.equal(slot(keys.nodeActive(node)), s);
      assert.equal(slot(keys.nodeStats(node)), s);
      assert.equal(slot(keys.nodeInvocations(node)), s);
      assert.equal(slot(`${keys.nodeQueuePrefix()}:${keys.nodeQueueName(node)}:wait`), s);
    }
    // Output groups, rollouts, long node lists and target sets (and their drafts): one slot
    // with the invocation (inv-create-5, inv-fold-6, ro-*.lua).
    for (const k of [
      keys.invocationNodes('t-abc'),
      keys.invocationNodesDraft('t-abc', '0123abcd'),
      keys.invocationTargets('t-abc'),
      keys.invocationTargetsDraft('t-abc', '0123abcd'),
      keys.invocationGroups('t-abc'),
      keys.invocationFolded('t-abc', 'f1'),
      keys.rolloutState('t-abc', ''),
      keys.rolloutQueue('t-abc', 'f1'),
      keys.rolloutActive('t-abc', 'f1'),
    ]) {
      assert.equal(slot(k), slot(keys.invocation('t-abc')), k);
    }
    assert.equal(slot(keys.invocationIndex()), slot(keys.nodeRegistry()));
    assert.equal(slot(keys.events()), slot(keys.nodeRegistry()));
    assert.equal(slot(keys.eventRelay()), slot(keys.events()));
    assert.equal(slot(keys.invocationEvents('t-abc')), slot(keys.events()));
    assert.equal(slot(keys.nodeEvents('n1')), slot(keys.nodeInfo('n1')));
    // Different nodes spread over slots rather than piling into one.
    const slots = new Set(Array.from({ length: 50 }, (_, i) => slot(keys.nodeInfo(`n${i}`))));
    assert.ok(slots.size > 40);
  });

  void it('every kind of record: each key in one row of the table, its slot, its node confinement', async () => {
    // A one-off run with a ClientToken (its invocation, run record, token, indexes, stats,
    // output groups) and a rollout (MaxConcurrency: its state, queue and active nodes).
    const once = await run(stack, {
      NodeIdList: NODES,
      CommandContent: 'true',
      ClientToken: `layout-${randomBytes(4).toString('hex')}`,
      MaxConcurrency: '1',
    });
    await waitFinal(stack, once);
    // A Period invocation with past runs (history list and entries, the timed index, its
    // schedule on the scheduler queue); left running while the keys are read.
    const period = await run(stack, {
      NodeIdList: NODES,
      Frequency: '* * * * * *',
      CommandContent: 'true',
    });
    await stack.waitFor(
      'a past run of the Period invocation on each node',
      async () => {
        const lens = await Promise.all(
          NODES.map((n) => stack.redis.llen(stack.keys.runHistory(n, period))),
        );
        return lens.every((l) => l >= 1);
      },
      60_000,
    );
    // A boot invocation (the node's boot triggers).
    await run(stack, { NodeIdList: ['lay1'], RepeatMode: 'EveryReboot', CommandContent: 'true' });
    await stack.waitFor(
      'the boot trigger',
      async () => (await stack.redis.hlen(stack.keys.nodeBoot('lay1'))) > 0,
    );
    // A saved command.
    const created = await stack.call('CreateCommand', { Name: 'layout', CommandContent: 'true' });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    // A SendFile.
    const sent = await stack.call('SendFile', {
      NodeIdList: ['lay2'],
      Name: 'layout.txt',
      TargetDir: dir,
      Content: 'x',
    });
    assert.equal(sent.status, 200, JSON.stringify(sent.body));
    await stack.waitFor('the file sent', async () => {
      const r = await stack.call('DescribeSendFileResults', { InvokeId: sent.body.InvokeId });
      const inv = (r.body as { Invocations: { Invocation: { InvocationStatus: string }[] } })
        .Invocations.Invocation[0];
      return inv?.InvocationStatus === 'Success';
    });
    // An RPC request signed with an access key (its nonce), and a key issued by `key add`.
    const rpc = await send(
      signedRequest(stack, key, { version: '2022-12-15', action: 'DescribeNodes', query: {} }),
    );
    assert.equal(rpc.status, 200, JSON.stringify(rpc.body));
    const added = await runCli(['key', 'add', '--json'], { ...process.env, ...stack.env });
    assert.equal(added.code, 0, added.stderr);
    // The scheduler's upkeep (the node-index upgrade marker).
    await upkeepOnce(stack);
    // An activation and a node registered with it (its own Redis user, made by RegisterNode).
    const enrolled = await enrollNode(stack, ADMIN, ENROLLED, { InstanceCount: 2 });

    const p = stack.prefix;
    const all = await keysUnder(stack.redis, p);
    const seen = new Map<string, string[]>();
    const seenGlobal = new Set<string>();
    const admin = stack.redis;
    const users = new NodeCredentials(admin, stack.keys);
    for (const n of NODES) await users.create(n);
    try {
      for (const k of all) {
        const matches = kindsOf(p, k);
        assert.equal(matches.length, 1, `${k}: in ${matches.length} rows of KEY_KINDS`);
        const [{ kind, tag }] = matches as [{ kind: KeyKind; tag: string }];
        seen.set(kind.kind, [...(seen.get(kind.kind) ?? []), k]);
        if (kind.kind === 'global index') seenGlobal.add(k.slice(`${p}:{global}:`.length));
        const want = {
          node: slot(stack.keys.nodeInfo(tag)),
          global: slot('{global}'),
          sched: slot('{sched}'),
          own: slot(tag),
          none: slot(k),
        }[kind.slotWith];
        assert.equal(slot(k), want, `${k} (${kind.kind}): slot`);
        if (kind.slotWith === 'own') assert.ok(tag !== '', `${k}: a hash tag of its own`);
        // What each node's ACL user may touch, as Redis itself answers (ACL DRYRUN).
        for (const n of [...NODES, ENROLLED]) {
          const reply = String(
            await admin.call('ACL', 'DRYRUN', stack.keys.nodeAclUser(n), 'PTTL', k),
          );
          const mayTouch = kind.owner === 'node' && tag === n;
          assert.equal(reply === 'OK', mayTouch, `${k} (${kind.kind}) for ${n}: ${reply}`);
        }
      }
      // The enrolled node's own connection reads none of the enrollment keys, its own included.
      const asNode = clientOf(enrolled.redisTarget);
      try {
        const id = enrolled.activationId;
        await assert.rejects(asNode.hgetall(stack.keys.activation(id)), /NOPERM/);
        await assert.rejects(asNode.smembers(stack.keys.activationNodes(id)), /NOPERM/);
        await assert.rejects(asNode.zrange(stack.keys.activationIndex(), 0, -1), /NOPERM/);
        await assert.rejects(asNode.hgetall(stack.keys.nodeEnrollment(ENROLLED)), /NOPERM/);
        await assert.rejects(
          asNode.hset(stack.keys.nodeEnrollment(ENROLLED), 'activationId', 'other'),
          /NOPERM/,
        );
      } finally {
        asNode.disconnect();
      }
    } finally {
      for (const n of [...NODES, ENROLLED]) await users.remove(n);
      await stack.call('StopInvocation', { InvokeId: period });
    }
    const missing = KEY_KINDS.filter((k) => !k.transient && !seen.has(k.kind)).map((k) => k.kind);
    assert.deepEqual(missing, [], 'kinds of key this test did not drive');
    assert.deepEqual(
      GLOBAL_INDEXES.filter((g) => !seenGlobal.has(g)),
      [],
      'global indexes not written',
    );
  });
});
