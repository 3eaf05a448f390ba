/**
 * Activations and RegisterNode against a real server and Redis: CreateActivation shows its code
 * once and stores only its SHA-256; only admin tokens call the activation actions; RegisterNode
 * refuses (each with its own code, counted, nothing created) a wrong code, an unknown, disabled,
 * expired or full activation, an address outside IpAddressRange and a taken node id; the
 * vendor's SDK (@alicloud/ecs20140526) drives the same actions through the RPC front end.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import * as $Ecs from '@alicloud/ecs20140526';
import { Redis } from 'ioredis';
import { ActivationStore } from '../../src/store/activation-store.js';
import { ecsClient, testAccessKey, type SdkError } from '../helpers/rpc.js';
import { makeStack, type ApiResponse, type Stack } from '../helpers/stack.js';

const ADMIN = randomBytes(16).toString('hex');

void describe('activations and RegisterNode', () => {
  let stack: Stack;
  const key = testAccessKey();
  const admin = (action: string, body: unknown) => stack.call(action, body, { token: ADMIN });
  const register = async (body: Record<string, unknown>): Promise<ApiResponse> => {
    const res = await fetch(`${stack.url}/v1/RegisterNode`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const create = async (body: Record<string, unknown> = {}) => {
    const r = await admin('CreateActivation', body);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return { id: String(r.body.ActivationId), code: String(r.body.ActivationCode) };
  };
  const describeOne = async (id: string) => {
    const r = await admin('DescribeActivations', { ActivationId: id });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return (r.body.ActivationList as Record<string, unknown>[])[0] ?? {};
  };
  /** Every key of the stack's prefix: a refusal must leave the set as it was. */
  const keysNow = async () => (await stack.redis.keys(`${stack.prefix}:*`)).sort();
  const aclUsers = async () => ((await stack.redis.call('ACL', 'USERS')) as string[]).sort();
  const refusalsCounted = async (code: string) => {
    const text = await (await fetch(`${stack.url}/metrics`)).text();
    const m = new RegExp(`fleetcmd_node_registrations_total\\{outcome="${code}"\\} (\\d+)`).exec(
      text,
    );
    return Number(m?.[1] ?? 0);
  };

  before(async () => {
    stack = await makeStack({ ...key.settings, FLEETCMD_API_TOKENS: `ops:admin:${ADMIN}` });
  });
  after(async () => {
    await stack.close();
  });

  void it('CreateActivation answers the code once; Redis holds only its SHA-256', async () => {
    const a = await create({ InstanceCount: 3, InstanceName: 'web', Description: 'the web tier' });
    assert.match(a.id, /^[0-9A-F-]{36}$/);
    assert.ok(a.code.length >= 43, 'a 256-bit code');
    const stored = await stack.redis.hgetall(stack.keys.activation(a.id));
    assert.ok(!JSON.stringify(stored).includes(a.code), 'the code is not stored');
    assert.equal(stored.codeSha256, createHash('sha256').update(a.code).digest('hex'));
    const row = await describeOne(a.id);
    assert.deepEqual(
      { ...row, CreationTime: typeof row.CreationTime },
      {
        ActivationId: a.id,
        Description: 'the web tier',
        InstanceName: 'web',
        InstanceCount: 3,
        RegisteredCount: 0,
        DeregisteredCount: 0,
        Disabled: false,
        CreationTime: 'string',
        TimeToLiveInHours: 4,
        IpAddressRange: '',
      },
    );
    assert.ok(!JSON.stringify(row).includes(a.code));
  });

  void it('only admin tokens call the activation actions; bad input is a 400 naming the field', async () => {
    const asRun = await stack.call('CreateActivation', {});
    assert.equal(asRun.status, 403);
    assert.equal(asRun.body.Code, 'Forbidden.Role');
    const asRunList = await stack.call('DescribeActivations', {});
    assert.equal(asRunList.status, 403);
    const before = await keysNow();
    for (const [body, field] of [
      [{ InstanceCount: 0 }, 'InstanceCount'],
      [{ InstanceCount: 1001 }, 'InstanceCount'],
      [{ TimeToLiveInHours: 876_001 }, 'TimeToLiveInHours'],
      [{ IpAddressRange: '10.0.0.0/33' }, 'IpAddressRange'],
      [{ InstanceName: '-x' }, 'InstanceName'],
    ] as const) {
      const r = await admin('CreateActivation', body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.match(String(r.body.Message), new RegExp(field));
    }
    assert.deepEqual(await keysNow(), before);
  });

  void it('DescribeActivations pages with NextToken', async () => {
    const made = [await create(), await create(), await create()];
    const seen: string[] = [];
    let token: string | undefined;
    do {
      const r = await admin('DescribeActivations', {
        MaxResults: 2,
        ...(token ? { NextToken: token } : {}),
      });
      assert.equal(r.status, 200);
      const list = r.body.ActivationList as { ActivationId: string }[];
      assert.ok(list.length <= 2);
      seen.push(...list.map((x) => x.ActivationId));
      token = r.body.NextToken as string | undefined;
    } while (token);
    for (const m of made) assert.ok(seen.includes(m.id));
    assert.equal(new Set(seen).size, seen.length, 'no activation twice');
  });

  void it('RegisterNode gives the node its own Redis user, counted on the activation', async () => {
    const a = await create({ InstanceCount: 1, InstanceName: 'db' });
    const r = await register({ ActivationId: a.id, ActivationCode: a.code });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const nodeId = String(r.body.NodeId);
    assert.match(nodeId, /^db-[0-9a-f]{6}$/);
    assert.equal(r.body.Prefix, stack.prefix);
    const url = new URL(String(r.body.RedisUrl));
    assert.equal(url.username, stack.keys.nodeAclUser(nodeId));
    const asNode = new Redis(String(r.body.RedisUrl), { maxRetriesPerRequest: 1 });
    try {
      assert.equal(String(await asNode.call('ACL', 'WHOAMI')), url.username);
      await assert.rejects(asNode.exists(stack.keys.invocationIndex()), /NOPERM/);
    } finally {
      asNode.disconnect();
    }
    const row = await describeOne(a.id);
    assert.equal(row.RegisteredCount, 1);
    // Full now: the next one is refused with nothing created.
    const keys = await keysNow();
    const users = await aclUsers();
    const full = await register({ ActivationId: a.id, ActivationCode: a.code });
    assert.equal(full.status, 403);
    assert.equal(full.body.Code, 'Activation.InstanceCountExceeded');
    assert.deepEqual(await keysNow(), keys);
    assert.deepEqual(await aclUsers(), users);
    // Not deletable while its node is registered.
    const del = await admin('DeleteActivation', { ActivationId: a.id });
    assert.equal(del.status, 409);
    assert.equal(del.body.Code, 'Activation.InUse');
  });

  void it('each refusal has its own code, is counted, and creates nothing', async () => {
    const store = new ActivationStore(stack.redis, stack.keys);
    const good = await create({ InstanceCount: 5 });
    const disabled = await create();
    assert.equal((await admin('DisableActivation', { ActivationId: disabled.id })).status, 200);
    assert.equal((await describeOne(disabled.id)).Disabled, true);
    const expired = await create();
    await store.setExpiresMs(expired.id, Date.now() - 1000);
    const ranged = await create({ IpAddressRange: '10.0.0.0/8' });
    const deleted = await create();
    assert.equal((await admin('DeleteActivation', { ActivationId: deleted.id })).status, 200);
    const taken = await register({
      ActivationId: good.id,
      ActivationCode: good.code,
      NodeId: 't1',
    });
    assert.equal(taken.status, 200, JSON.stringify(taken.body));

    const cases: [string, Record<string, unknown>, number, string][] = [
      [
        'wrong code',
        { ActivationId: good.id, ActivationCode: disabled.code },
        403,
        'InvalidActivationCode.Mismatch',
      ],
      [
        'unknown',
        { ActivationId: 'NOPE', ActivationCode: good.code },
        404,
        'InvalidActivationId.NotFound',
      ],
      [
        'deleted',
        { ActivationId: deleted.id, ActivationCode: deleted.code },
        404,
        'InvalidActivationId.NotFound',
      ],
      [
        'disabled',
        { ActivationId: disabled.id, ActivationCode: disabled.code },
        403,
        'Activation.Disabled',
      ],
      [
        'expired',
        { ActivationId: expired.id, ActivationCode: expired.code },
        403,
        'Activation.Expired',
      ],
      [
        'outside range',
        { ActivationId: ranged.id, ActivationCode: ranged.code },
        403,
        'Activation.IpAddressNotAllowed',
      ],
      [
        'node id taken',
        { ActivationId: good.id, ActivationCode: good.code, NodeId: 't1' },
        409,
        'InvalidNodeId.Taken',
      ],
      [
        'bad field',
        { ActivationId: good.id, ActivationCode: good.code, NodeId: '-' },
        400,
        'InvalidParameter',
      ],
    ];
    for (const [what, body, status, code] of cases) {
      const keys = await keysNow();
      const users = await aclUsers();
      const counted = await refusalsCounted(code);
      const r = await register({ NodeId: `r-${randomBytes(3).toString('hex')}`, ...body });
      assert.equal(r.status, status, `${what}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.Code, code, what);
      assert.deepEqual(await keysNow(), keys, `${what}: no key written`);
      assert.deepEqual(await aclUsers(), users, `${what}: no user made`);
      assert.equal(await refusalsCounted(code), counted + 1, `${what}: counted`);
    }
    assert.equal((await describeOne(good.id)).RegisteredCount, 1);
  });

  void it('the vendor SDK creates, lists, disables and deletes activations over RPC', async () => {
    const ecs = ecsClient(stack, key);
    const made = await ecs.createActivation(
      new $Ecs.CreateActivationRequest({
        regionId: 'local',
        instanceCount: 2,
        instanceName: 'sdk',
        timeToLiveInHours: 24,
        ipAddressRange: '127.0.0.0/8',
        description: 'through the SDK',
      }),
    );
    const id = made.body?.activationId ?? '';
    assert.ok(id !== '' && (made.body?.activationCode ?? '').length >= 43);
    const listed = await ecs.describeActivations(
      new $Ecs.DescribeActivationsRequest({ regionId: 'local', activationId: id }),
    );
    const row = listed.body?.activationList?.[0];
    assert.equal(row?.instanceCount, 2);
    assert.equal(row?.timeToLiveInHours, 24);
    assert.equal(row?.ipAddressRange, '127.0.0.0/8');
    assert.equal(row?.disabled, false);
    const disabled = await ecs.disableActivation(
      new $Ecs.DisableActivationRequest({ regionId: 'local', activationId: id }),
    );
    assert.equal(disabled.body?.activation?.disabled, true);
    const deleted = await ecs.deleteActivation(
      new $Ecs.DeleteActivationRequest({ regionId: 'local', activationId: id }),
    );
    assert.equal(deleted.body?.activation?.activationId, id);
    await assert.rejects(
      ecs.disableActivation(
        new $Ecs.DisableActivationRequest({ regionId: 'local', activationId: id }),
      ),
      (err: SdkError) => {
        assert.equal(err.code, 'InvalidActivationId.NotFound');
        return true;
      },
    );
  });
});
