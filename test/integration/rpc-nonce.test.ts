/**
 * A signed RPC request's nonce is spent by every authenticated answer, refusals included: a
 * captured request the server refused (its node was not registered yet) cannot be replayed
 * once the node registers.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { send, signedRequest, testAccessKey } from '../helpers/rpc.js';
import { makeStack, type Stack } from '../helpers/stack.js';

const NODE = '2022-12-15';

void describe('RPC nonces', () => {
  let stack: Stack;
  const key = testAccessKey();

  before(async () => {
    stack = await makeStack(key.settings);
  });
  after(async () => {
    await stack.close();
  });

  void it('a request refused with 400 (unregistered node) cannot be replayed once the node registers', async () => {
    const nodeId = `late-${randomBytes(4).toString('hex')}`;
    const req = signedRequest(stack, key, {
      version: NODE,
      action: 'RunCommand',
      query: { 'NodeIdList.1': nodeId, CommandContent: 'echo replayed' },
    });
    const refused = await send(req);
    assert.equal(refused.status, 400, JSON.stringify(refused.body));
    assert.equal(refused.body.Code, 'InvalidNodeId.NotFound');

    await stack.startAgent(nodeId);
    // The node is registered now: a fresh request for it is accepted...
    const fresh = await send(
      signedRequest(stack, key, {
        version: NODE,
        action: 'DescribeNodes',
        query: { NodeId: nodeId },
      }),
    );
    assert.equal(fresh.status, 200, JSON.stringify(fresh.body));

    // ...but the captured one is a replay.
    const replayed = await send(req);
    assert.equal(replayed.status, 400, JSON.stringify(replayed.body));
    assert.equal(replayed.body.Code, 'SignatureNonceUsed');
  });

  void it('a request refused for bad parameters spends its nonce too', async () => {
    const req = signedRequest(stack, key, {
      version: NODE,
      action: 'DescribeNodes',
      query: { MaxResults: 'many' },
    });
    const refused = await send(req);
    assert.equal(refused.status, 400, JSON.stringify(refused.body));
    assert.equal(refused.body.Code, 'InvalidParameter');
    const replayed = await send(req);
    assert.equal(replayed.body.Code, 'SignatureNonceUsed');
  });
});
