import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as $Ecs from '@alicloud/ecs20140526';
import { loadConfig } from '../../src/shared/config.js';
import { makeLogger } from '../../src/shared/log.js';
import { startServer } from '../../src/server/main.js';
import type { Running } from '../../src/shared/running.js';
import {
  callRpc,
  ecsClient,
  genericClient,
  send,
  signedRequest,
  testAccessKey,
  type SdkError,
} from '../helpers/rpc.js';
import { makeStack, quietKeys, relayCaughtUp, waitFinal, type Stack } from '../helpers/stack.js';
import { keysUnder } from '../helpers/redis.js';

const NODE = '2022-12-15';
const INSTANCE = '2014-05-26';

/** The error an SDK call threw (the vendor's shape, as the SDK read it). */
async function failure(p: Promise<unknown>): Promise<SdkError> {
  try {
    await p;
  } catch (err) {
    return err as SdkError;
  }
  throw new Error('the call was expected to fail');
}

const isoNow = (offsetMs = 0) =>
  new Date(Date.now() + offsetMs).toISOString().replace(/\.\d{3}Z$/, 'Z');

void describe('RPC protocol: node dialect, signatures and bad input', () => {
  let stack: Stack;
  const key = testAccessKey();

  before(async () => {
    stack = await makeStack(key.settings);
    await stack.startAgent('n1');
    await stack.startAgent('n2');
    await relayCaughtUp(stack, 2);
  });
  after(async () => {
    await stack.close();
  });

  /**
   * Asserts that `fn` changes no key under the stack's prefix but the signature nonces a
   * signed request spends, refused or not (rpc-nonce.test.ts).
   */
  async function changesNothing(fn: () => Promise<void>): Promise<void> {
    const lasting = async () =>
      (await quietKeys(stack)).filter((k) => !k.startsWith(`${stack.prefix}:nonce:`));
    const before = await lasting();
    await fn();
    assert.deepEqual(await lasting(), before);
  }

  void it('node dialect through openapi-client callApi: RunCommand, DescribeInvocations with output, Timed as text', async () => {
    const client = genericClient(stack, key);
    const run = await callRpc(client, NODE, 'RunCommand', {
      NodeIdList: ['n1', 'n2'],
      CommandContent: 'echo "node {{ACS::NodeId}} {{x}}"',
      EnableParameter: true,
      Parameters: { x: 'y' },
      Timeout: 30,
      RegionId: 'local',
    });
    const invokeId = run.InvokeId as string;
    assert.match(invokeId, /^t-/);
    assert.equal(typeof run.RequestId, 'string');
    await waitFinal(stack, invokeId, 30_000);

    const answer = await callRpc(client, NODE, 'DescribeInvocations', {
      InvokeId: invokeId,
      IncludeOutput: true,
    });
    const inv = (answer.Invocations as { Invocation: Record<string, unknown>[] }).Invocation[0];
    assert.ok(inv);
    assert.equal(inv.InvocationStatus, 'Success');
    assert.equal(inv.CommandId, undefined, 'the node dialect is exactly the seed');
    const nodes = (inv.InvokeNodes as { InvokeNode: Record<string, unknown>[] }).InvokeNode;
    for (const n of nodes) {
      assert.equal(n.Timed, 'false');
      assert.equal(n.NodeInvokeStatus, 'Finished');
      assert.equal(
        Buffer.from(String(n.Output), 'base64').toString(),
        `node ${String(n.NodeId)} y\n`,
      );
    }

    const status = await callRpc(client, NODE, 'DescribeCloudAssistantStatus', {
      NodeIdList: ['n1'],
    });
    const set = status.NodeCloudAssistantStatusSet as {
      NodeCloudAssistantStatus: Record<string, unknown>[];
    };
    assert.equal(set.NodeCloudAssistantStatus[0]?.NodeId, 'n1');
    assert.equal(set.NodeCloudAssistantStatus[0]?.CloudAssistantStatus, 'true');
  });

  void it('instance dialect answers carry the SDK models’ types: Timed is a boolean', async () => {
    const client = genericClient(stack, key);
    const run = await callRpc(client, INSTANCE, 'RunCommand', {
      InstanceId: ['n1'],
      CommandContent: 'true',
      Type: 'RunShellScript',
    });
    await waitFinal(stack, run.InvokeId as string, 30_000);
    const answer = await callRpc(client, INSTANCE, 'DescribeInvocations', {
      InvokeId: run.InvokeId as string,
    });
    const inv = (answer.Invocations as { Invocation: Record<string, unknown>[] }).Invocation[0];
    assert.equal(inv?.Timed, false);
    const n = (inv?.InvokeInstances as { InvokeInstance: Record<string, unknown>[] })
      .InvokeInstance[0];
    assert.equal(n?.InstanceId, 'n1');
    assert.equal(n?.Timed, false);
    assert.equal(n?.InstanceInvokeStatus, 'Finished');
    assert.equal(n?.NodeId, undefined);
  });

  void it('the HMAC-SHA1 query signature (openapi-client signatureAlgorithm v2) is verified', async () => {
    const sha1 = genericClient(stack, key, { signatureAlgorithm: 'v2' });
    const run = await callRpc(sha1, NODE, 'RunCommand', {
      NodeIdList: ['n2'],
      CommandContent: 'echo sha1',
    });
    const inv = await waitFinal(stack, run.InvokeId as string, 30_000);
    assert.equal(inv.InvokeNodes.InvokeNode[0]?.Output, 'sha1\n');

    const stale = genericClient(stack, key, {
      signatureAlgorithm: 'v2',
      queries: { Timestamp: isoNow(-20 * 60_000) },
    });
    const wrong = genericClient(
      stack,
      { id: key.id, secret: 'not-the-secret-at-all' },
      {
        signatureAlgorithm: 'v2',
      },
    );
    await changesNothing(async () => {
      const err = await failure(
        callRpc(wrong, NODE, 'RunCommand', { NodeIdList: ['n2'], CommandContent: 'echo no' }),
      );
      assert.equal(err.statusCode, 400);
      assert.equal(err.code, 'SignatureDoesNotMatch');
      const late = await failure(
        callRpc(stale, NODE, 'RunCommand', { NodeIdList: ['n2'], CommandContent: 'echo no' }),
      );
      assert.equal(late.statusCode, 400);
      assert.equal(late.code, 'InvalidTimeStamp.Expired');
    });
  });

  void it('a wrong secret is rejected (SignatureDoesNotMatch) and changes nothing in Redis', async () => {
    const ecs = ecsClient(stack, { id: key.id, secret: 'a-wrong-secret-of-some-length' });
    await changesNothing(async () => {
      const err = await failure(
        ecs.runCommand(
          new $Ecs.RunCommandRequest({
            regionId: 'local',
            type: 'RunShellScript',
            instanceId: ['n1'],
            commandContent: 'echo must-not-run',
          }),
        ),
      );
      assert.equal(err.statusCode, 400);
      assert.equal(err.code, 'SignatureDoesNotMatch');
      assert.match(String(err.data?.RequestId), /^[0-9A-F-]{36}$/);
      assert.equal(typeof err.data?.Message, 'string');
    });
    const unknown = ecsClient(stack, { id: 'NOSUCHKEY', secret: key.secret });
    const err = await failure(
      unknown.describeInvocations(new $Ecs.DescribeInvocationsRequest({ regionId: 'local' })),
    );
    assert.equal(err.statusCode, 404);
    assert.equal(err.code, 'InvalidAccessKeyId.NotFound');
  });

  void it('a stale date is rejected (InvalidTimeStamp.Expired) and changes nothing', async () => {
    const stale = ecsClient(stack, key, { 'x-acs-date': isoNow(-16 * 60_000) });
    const ahead = ecsClient(stack, key, { 'x-acs-date': isoNow(16 * 60_000) });
    await changesNothing(async () => {
      for (const client of [stale, ahead]) {
        const err = await failure(
          client.runCommand(
            new $Ecs.RunCommandRequest({
              regionId: 'local',
              type: 'RunShellScript',
              instanceId: ['n1'],
              commandContent: 'echo must-not-run',
            }),
          ),
        );
        assert.equal(err.statusCode, 400);
        assert.equal(err.code, 'InvalidTimeStamp.Expired');
      }
    });
    // Within the window (14 minutes off) is accepted.
    const skewed = ecsClient(stack, key, { 'x-acs-date': isoNow(-14 * 60_000) });
    const ok = await skewed.describeInvocations(
      new $Ecs.DescribeInvocationsRequest({ regionId: 'local', maxResults: 1 }),
    );
    assert.ok(ok.body?.requestId);
  });

  void it('a nonce is used once, across replicas; a request signed by hand is accepted once', async () => {
    const replica: Running = await startServer(
      loadConfig({
        ...stack.env,
        ...key.settings,
        FLEETCMD_API_TOKEN: stack.token,
        FLEETCMD_ROLE: 'api',
        PORT: '0',
        FLEETCMD_HOST: '127.0.0.1',
        LOG_LEVEL: 'silent',
      }),
      makeLogger('silent', 'replica'),
    );
    try {
      const req = signedRequest(stack, key, {
        version: NODE,
        action: 'RunCommand',
        query: { 'NodeIdList.1': 'n1', CommandContent: 'echo once' },
      });
      const first = await send(req);
      assert.equal(first.status, 200, JSON.stringify(first.body));
      const invokeId = first.body.InvokeId as string;
      // The same request again, to this server and to the other replica.
      const again = await send(req);
      assert.equal(again.status, 400);
      assert.equal(again.body.Code, 'SignatureNonceUsed');
      // To the replica (its own Host, so signed for it): the same nonce is refused there too.
      const forReplica = signedRequest({ ...stack, url: replica.url ?? '' }, key, {
        version: NODE,
        action: 'RunCommand',
        query: { 'NodeIdList.1': 'n1', CommandContent: 'echo once' },
        nonce: (req.init.headers as Record<string, string>)['x-acs-signature-nonce'] as string,
      });
      const replayed = await send(forReplica);
      assert.equal(replayed.status, 400);
      assert.equal(replayed.body.Code, 'SignatureNonceUsed');
      const inv = await waitFinal(stack, invokeId, 30_000);
      assert.equal(inv.InvokeNodes.InvokeNode[0]?.Output, 'once\n');
      // The nonce is kept for the rest of the 15-minute window.
      const nonceKeys = await keysUnder(stack.redis, `${stack.prefix}:nonce`);
      assert.ok(nonceKeys.length >= 1);
      const ttls = await Promise.all(nonceKeys.map((k) => stack.redis.pttl(k)));
      assert.ok(
        ttls.every((t) => t > 0 && t <= 30 * 60_000),
        JSON.stringify(ttls),
      );
    } finally {
      await replica.close();
    }
  });

  void it('a form body is read and its x-acs-content-sha256 checked', async () => {
    const ok = await send(
      signedRequest(stack, key, {
        version: NODE,
        action: 'DescribeNodes',
        form: { NodeId: 'n1' },
      }),
    );
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.equal((ok.body.Nodes as { Node: { NodeId: string }[] }).Node[0]?.NodeId, 'n1');
    // GET with the action and version as parameters rather than headers.
    const viaGet = await send(
      signedRequest(stack, key, {
        method: 'GET',
        version: NODE,
        action: 'DescribeNodes',
        query: { Action: 'DescribeNodes', Version: NODE, NodeId: 'n2' },
      }),
    );
    assert.equal(viaGet.status, 200, JSON.stringify(viaGet.body));
    assert.equal((viaGet.body.Nodes as { Node: { NodeId: string }[] }).Node[0]?.NodeId, 'n2');

    await changesNothing(async () => {
      const tampered = await send(
        signedRequest(stack, key, {
          version: NODE,
          action: 'DescribeNodes',
          form: { NodeId: 'n1' },
          contentSha256: 'a'.repeat(64),
        }),
      );
      assert.equal(tampered.status, 400);
      assert.equal(tampered.body.Code, 'SignatureDoesNotMatch');
      const unsigned = await send(
        signedRequest(stack, key, { version: NODE, action: 'DescribeNodes', unsigned: true }),
      );
      assert.equal(unsigned.status, 400);
      assert.equal(unsigned.body.Code, 'IncompleteSignature');
    });
  });

  void it('bad input answers the vendor error shape with a 4xx and changes nothing', async () => {
    const cases: {
      r: Parameters<typeof signedRequest>[2];
      status: number;
      code: string;
      msg: RegExp;
    }[] = [
      {
        r: { version: NODE, action: 'RebootInstance' },
        status: 404,
        code: 'InvalidAction.NotFound',
        msg: /RebootInstance/,
      },
      {
        r: { version: INSTANCE, action: 'DescribeNodes' },
        status: 404,
        code: 'InvalidAction.NotFound',
        msg: /not an action of version 2014-05-26/,
      },
      {
        r: { version: '2099-01-01', action: 'RunCommand' },
        status: 400,
        code: 'InvalidVersion',
        msg: /2099-01-01/,
      },
      {
        r: {
          version: NODE,
          action: 'RunCommand',
          query: { 'NodeIdList.1': 'n1', 'NodeIdList.3': 'n2', CommandContent: 'echo x' },
        },
        status: 400,
        code: 'InvalidParameter',
        msg: /NodeIdList\.2: is missing/,
      },
      {
        r: {
          version: INSTANCE,
          action: 'RunCommand',
          query: { 'InstanceId.0': 'n1', CommandContent: 'echo x', Type: 'RunShellScript' },
        },
        status: 400,
        code: 'InvalidParameter',
        msg: /InstanceId\.0/,
      },
      {
        r: {
          version: NODE,
          action: 'RunCommand',
          query: { 'NodeIdList.1': 'n1', CommandContent: 'echo x', Parameters: '{not json' },
        },
        status: 400,
        code: 'InvalidParameter',
        msg: /Parameters: must be a JSON object/,
      },
      {
        r: {
          version: NODE,
          action: 'RunCommand',
          query: { 'NodeIdList.1': 'n1', CommandContent: 'echo x', Timeout: 'soon' },
        },
        status: 400,
        code: 'InvalidParameter',
        msg: /Timeout: must be a whole number/,
      },
      {
        r: {
          version: INSTANCE,
          action: 'RunCommand',
          query: { 'InstanceId.1': 'ghost', CommandContent: 'echo x' },
        },
        status: 400,
        code: 'InvalidNodeId.NotFound',
        msg: /InstanceId: node "ghost"/,
      },
      {
        r: {
          version: NODE,
          action: 'RunCommand',
          form: { 'NodeIdList.1': 'n1', CommandContent: 'x'.repeat(300 * 1024) },
        },
        status: 413,
        code: 'PayloadTooLarge',
        msg: /size limit/,
      },
    ];
    await changesNothing(async () => {
      for (const c of cases) {
        const res = await send(signedRequest(stack, key, c.r));
        assert.equal(res.status, c.status, `${c.code}: ${JSON.stringify(res.body)}`);
        assert.equal(res.body.Code, c.code);
        assert.match(String(res.body.Message), c.msg);
        assert.match(String(res.body.RequestId), /^[0-9A-F-]{36}$/);
      }
      // A query string over the header limit: Node refuses it before any route.
      const huge = await send(
        signedRequest(stack, key, {
          version: NODE,
          action: 'RunCommand',
          query: { 'NodeIdList.1': 'n1', CommandContent: 'x'.repeat(200 * 1024) },
        }),
      );
      assert.equal(huge.status, 431);
      assert.equal(huge.body.Code, 'RequestHeaderTooLarge');
    });
  });
});
