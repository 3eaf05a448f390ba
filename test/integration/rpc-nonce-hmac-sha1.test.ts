/**
 * The RPC front end's older signature, the HMAC-SHA1 query signature (SignatureMethod=HMAC-SHA1,
 * Signature among the parameters), refuses a replayed SignatureNonce just as ACS3 does
 * (docs/api.md: 400 SignatureNonceUsed): a captured RunCommand sent again runs nothing, on the
 * same replica or another, and a nonce is spent for every request of that key, whatever the
 * request. The requests are signed in the test from the vendor's documented algorithm.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Running } from '../../src/shared/running.js';
import { sha1SignedRequest, startReplica } from '../helpers/promises.js';
import { send, testAccessKey } from '../helpers/rpc.js';
import { makeStack, waitFinal, type Stack } from '../helpers/stack.js';

const NODE = '2022-12-15';

void describe('HMAC-SHA1 nonces', () => {
  let stack: Stack;
  let replica: Running | undefined;
  const key = testAccessKey();

  before(async () => {
    stack = await makeStack(key.settings);
    replica = (await startReplica(stack)).server;
    await stack.startAgent('sn1');
  });
  after(async () => {
    await replica?.close();
    await stack.close();
  });

  const indexSize = () => stack.redis.zcard(stack.keys.invocationIndex());
  const runCommand = (nonce?: string) =>
    sha1SignedRequest(stack.url, key, {
      version: NODE,
      action: 'RunCommand',
      query: { 'NodeIdList.1': 'sn1', CommandContent: 'echo sha1-once' },
      ...(nonce ? { nonce } : {}),
    });

  void it('a replayed RunCommand is refused with SignatureNonceUsed and runs nothing', async () => {
    const req = runCommand();
    const first = await send(req);
    assert.equal(first.status, 200, JSON.stringify(first.body));
    const inv = await waitFinal(stack, String(first.body.InvokeId));
    assert.equal(inv.InvokeNodes.InvokeNode[0]?.Output, 'sha1-once\n');
    const before = await indexSize();

    const replayed = await send(req);
    assert.equal(replayed.status, 400, JSON.stringify(replayed.body));
    assert.equal(replayed.body.Code, 'SignatureNonceUsed');
    assert.equal(await indexSize(), before, 'the replay created nothing');
  });

  void it('a replay sent to another replica is refused too', async () => {
    const req = runCommand();
    const first = await send(req);
    assert.equal(first.status, 200, JSON.stringify(first.body));
    await waitFinal(stack, String(first.body.InvokeId));
    const before = await indexSize();
    const other = new URL(replica?.url ?? '');
    const url = new URL(req.url);
    url.host = other.host;
    const replayed = await send({ url: url.toString(), init: req.init });
    assert.equal(replayed.status, 400, JSON.stringify(replayed.body));
    assert.equal(replayed.body.Code, 'SignatureNonceUsed');
    assert.equal(await indexSize(), before);
  });

  void it('a nonce is spent for every request of the key: a new request with it is refused', async () => {
    const nonce = randomBytes(16).toString('hex');
    const first = await send(
      sha1SignedRequest(stack.url, key, {
        version: NODE,
        action: 'DescribeNodes',
        query: { NodeId: 'sn1' },
        nonce,
      }),
    );
    assert.equal(first.status, 200, JSON.stringify(first.body));
    const before = await indexSize();
    // A different, correctly signed request (a new Timestamp and action) with the same nonce.
    const reused = await send(runCommand(nonce));
    assert.equal(reused.status, 400, JSON.stringify(reused.body));
    assert.equal(reused.body.Code, 'SignatureNonceUsed');
    assert.equal(await indexSize(), before);
  });
});
