/**
 * ClientToken's promises (docs/api.md, RunCommand): a token used with different requests at
 * once lets exactly one create its invocation and answers the others 409
 * IdempotentParameterMismatch, on one replica or across two; the token is remembered for 24 h,
 * never longer than the invocation it names.
 *
 * The 24 h is not driven by a clock here: the server's clock is Date.now() (src/server/main.ts
 * gives ActionDeps no other), and the token's lifetime is a Redis TTL (SET EX), counted by
 * Redis's own clock. So the test reads the TTL the token was given, and shows a real expiry
 * with a retention short enough to cap it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Running } from '../../src/shared/running.js';
import { sha256Hex, startReplica } from '../helpers/promises.js';
import { makeStack, run, waitFinal, type ApiResponse, type Stack } from '../helpers/stack.js';

type Call = (action: string, body: unknown) => Promise<ApiResponse>;

/** Sends `n` RunCommands with one token and different contents, all at once, through `calls`. */
async function raceDifferent(stack: Stack, calls: Call[], token: string, n: number) {
  const before = await stack.redis.zcard(stack.keys.invocationIndex());
  const answers = await Promise.all(
    Array.from({ length: n }, (_, i) =>
      (calls[i % calls.length] as Call)('RunCommand', {
        NodeIdList: ['ct1'],
        CommandContent: `echo body-${i}`,
        ClientToken: token,
      }),
    ),
  );
  const won = answers.flatMap((a, i) =>
    a.status === 200 ? [{ i, id: String(a.body.InvokeId) }] : [],
  );
  const lost = answers.filter((a) => a.status !== 200);
  const created = (await stack.redis.zcard(stack.keys.invocationIndex())) - before;
  return { won, lost, created };
}

void describe('ClientToken', () => {
  let stack: Stack;
  let replica: Running | undefined;
  let callB: Call;

  before(async () => {
    stack = await makeStack();
    const b = await startReplica(stack);
    replica = b.server;
    callB = b.call;
    await stack.startAgent('ct1');
  });
  after(async () => {
    await replica?.close();
    await stack.close();
  });

  const callA: Call = (action, body) => stack.call(action, body);

  const checkOneWinner = async (r: Awaited<ReturnType<typeof raceDifferent>>, n: number) => {
    assert.equal(r.won.length, 1, `winners: ${JSON.stringify(r.won)}`);
    assert.equal(r.lost.length, n - 1);
    for (const l of r.lost) {
      assert.equal(l.status, 409, JSON.stringify(l.body));
      assert.equal(l.body.Code, 'IdempotentParameterMismatch');
    }
    assert.equal(r.created, 1, 'one invocation created');
    // The one created is the winner's request, and it ran once.
    const winner = r.won[0] as { i: number; id: string };
    const inv = await waitFinal(stack, winner.id);
    const node = inv.InvokeNodes.InvokeNode[0];
    assert.equal(node?.Output, `body-${winner.i}\n`);
    assert.equal(node?.Repeats, 1);
  };

  void it('the same token with different requests at once: exactly one wins, the rest 409', async () => {
    const n = 16;
    await checkOneWinner(await raceDifferent(stack, [callA], 'tok-race-diff', n), n);
  });

  void it('across two replicas: exactly one wins, the rest 409', async () => {
    const n = 16;
    await checkOneWinner(await raceDifferent(stack, [callA, callB], 'tok-replicas-diff', n), n);
  });

  void it('across two replicas: the same request answers one InvokeId on both', async () => {
    const body = { NodeIdList: ['ct1'], CommandContent: 'echo same', ClientToken: 'tok-replicas' };
    const before = await stack.redis.zcard(stack.keys.invocationIndex());
    const answers = await Promise.all(
      Array.from({ length: 10 }, (_, i) => (i % 2 ? callB : callA)('RunCommand', body)),
    );
    for (const a of answers) assert.equal(a.status, 200, JSON.stringify(a.body));
    assert.equal(new Set(answers.map((a) => a.body.InvokeId)).size, 1);
    assert.equal((await stack.redis.zcard(stack.keys.invocationIndex())) - before, 1);
    const inv = await waitFinal(stack, String(answers[0]?.body.InvokeId));
    assert.equal(inv.InvokeNodes.InvokeNode[0]?.Repeats, 1);
  });

  void it('is remembered for 24 h (its Redis TTL)', async () => {
    const id = await run(stack, {
      NodeIdList: ['ct1'],
      CommandContent: 'true',
      ClientToken: 'tok-ttl',
    });
    await waitFinal(stack, id);
    const ttl = await stack.redis.ttl(stack.keys.clientToken(sha256Hex('tok-ttl')));
    // Set with EX 86400 moments ago; a generous bound for a loaded machine below.
    assert.ok(ttl <= 24 * 3600 && ttl > 24 * 3600 - 600, `ClientToken TTL ${ttl} s`);
  });
});

void describe('ClientToken under a short retention', () => {
  let stack: Stack;

  before(async () => {
    stack = await makeStack({ FLEETCMD_RETENTION_SECONDS: '3' });
    await stack.startAgent('ct1');
  });
  after(() => stack.close());

  void it('never outlives its invocation: once both expired, the token is free again', async () => {
    const token = 'tok-short';
    const first = await run(stack, {
      NodeIdList: ['ct1'],
      CommandContent: 'echo a',
      ClientToken: token,
    });
    const key = stack.keys.clientToken(sha256Hex(token));
    const ttl = await stack.redis.ttl(key);
    assert.ok(ttl > 0 && ttl <= 3, `ClientToken TTL ${ttl} s, retention 3 s`);
    await waitFinal(stack, first);
    await stack.waitFor(
      'the token to expire',
      async () => (await stack.redis.exists(key)) === 0,
      30_000,
    );
    const second = await run(stack, {
      NodeIdList: ['ct1'],
      CommandContent: 'echo b',
      ClientToken: token,
    });
    assert.notEqual(second, first);
    const inv = await waitFinal(stack, second);
    assert.equal(inv.InvokeNodes.InvokeNode[0]?.Output, 'b\n');
  });
});
