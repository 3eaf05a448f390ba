/**
 * A JSON body with a key given twice is refused with 400 naming the key (it used to be read as
 * its last value), on /v1 and in the RPC protocol's JSON-text parameters; RPC parameters given
 * twice are refused too. Nothing is created.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { keysUnder } from '../helpers/redis.js';
import { send, signedRequest, testAccessKey } from '../helpers/rpc.js';
import { makeStack, relayCaughtUp, VOLATILE_KEY_RE, type Stack } from '../helpers/stack.js';

void describe('duplicate keys', () => {
  let stack: Stack;
  const key = testAccessKey();
  before(async () => {
    stack = await makeStack(key.settings);
    await stack.startAgent('n1');
    await relayCaughtUp(stack, 1);
  });
  after(async () => {
    await stack.close();
  });

  const stable = async () =>
    (await keysUnder(stack.redis, stack.prefix)).filter(
      (k) => !VOLATILE_KEY_RE.test(k) && !k.includes(':nonce:'),
    );

  void it('/v1: a key twice, at the top or nested, is a 400 naming it', async () => {
    const before = await stable();
    const bodies: [string, string][] = [
      [
        '{"NodeIdList":["n1"],"CommandContent":"echo a","CommandContent":"echo b"}',
        'CommandContent',
      ],
      [
        '{"NodeIdList":["n1"],"CommandContent":"echo {{x}}","EnableParameter":true,"Parameters":{"x":"1","x":"2"}}',
        'x',
      ],
    ];
    for (const [raw, name] of bodies) {
      const res = await stack.call('RunCommand', undefined, { raw });
      assert.equal(res.status, 400, JSON.stringify(res.body));
      assert.equal(res.body.Code, 'InvalidParameter');
      assert.equal(res.body.Message, `duplicate key "${name}" in the JSON body`);
    }
    assert.deepEqual(await stable(), before);
    // The same body with each key once is accepted.
    const ok = await stack.call('RunCommand', undefined, {
      raw: '{"NodeIdList":["n1"],"CommandContent":"echo b"}',
    });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
  });

  void it('RPC: a key twice in a JSON-text parameter, or a parameter twice, is a 400 naming it', async () => {
    const mapTwice = await send(
      signedRequest(stack, key, {
        version: '2022-12-15',
        action: 'RunCommand',
        query: {
          'NodeIdList.1': 'n1',
          CommandContent: 'echo {{x}}',
          EnableParameter: 'true',
          Parameters: '{"x":"1","x":"2"}',
        },
      }),
    );
    assert.equal(mapTwice.status, 400, JSON.stringify(mapTwice.body));
    assert.equal(mapTwice.body.Code, 'InvalidParameter');
    assert.match(String(mapTwice.body.Message), /Parameters: duplicate key "x"/);

    // The same name in the query and the form body.
    const paramTwice = await send(
      signedRequest(stack, key, {
        version: '2022-12-15',
        action: 'DescribeNodes',
        query: { NodeId: 'n1' },
        form: { NodeId: 'n2' },
      }),
    );
    assert.equal(paramTwice.status, 400, JSON.stringify(paramTwice.body));
    assert.match(String(paramTwice.body.Message), /NodeId: is given twice/);
  });
});
