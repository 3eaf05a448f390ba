/**
 * Activations and RegisterNode against a real server and Redis: CreateActivation shows its code
 * once and stores only its SHA-256; only admin tokens call the activation actions; RegisterNode
 * refuses (each with its own code, counted, nothing created) a wrong code, an unknown, disabled,
 * expired or full activation, an address outside IpAddressRange and a taken node id; the
 * vendor's SDK (@alicloud/ecs20140526) drives the same actions through the RPC front end.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { after, before, describe, it } from 'node:test';
import * as $Ecs from '@alicloud/ecs20140526';
import { registerNodeResponse } from '../../src/api/schemas/response.js';
import { ActivationStore } from '../../src/store/activation-store.js';
import { nodeLogin, postRegisterNode } from '../helpers/enroll.js';
import { clientOf, keysUnder } from '../helpers/redis.js';
import { ecsClient, testAccessKey, type SdkError } from '../helpers/rpc.js';
import { makeStack, VOLATILE_KEY_RE, type ApiResponse, type Stack } from '../helpers/stack.js';

const ADMIN = randomBytes(16).toString('hex');

void describe('activations and RegisterNode', () => {
  let stack: Stack;
  const key = testAccessKey();
  const admin = (action: string, body: unknown) => stack.call(action, body, { token: ADMIN });
  const register = (body: Record<string, unknown>) => postRegisterNode(stack.url, body);
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
  // Less BullMQ's stalled-check, which its timer re-sets whatever the requests do.
  const keysNow = async () =>
    (await keysUnder(stack.redis, stack.prefix)).filter((k) => !VOLATILE_KEY_RE.test(k));
  const aclUsers = async () => ((await stack.redis.call('ACL', 'USERS')) as string[]).sort();
  const refusalsCounted = async (code: string) => {
    const text = await (await fetch(`${stack.url}/metrics`)).text();
    const m = new RegExp(`fleetcmd_node_registrations_total\\{outcome="${code}"\\} (\\d+)`).exec(
      text,
    );
    return Number(m?.[1] ?? 0);
  };

  /** The raw audit stream, every field of every entry. */
  const rawAudit = async () =>
    (await stack.redis.xrange(stack.keys.auditLog(), '-', '+')).flat(2).join(' ');
  /** The one audit event of a request, as stored (without its id and time). */
  const auditEventOf = async (requestId: unknown) => {
    const rows = await stack.redis.xrange(stack.keys.auditLog(), '-', '+');
    const found = rows
      .map(([, fields]) => JSON.parse(fields[1] ?? '{}') as Record<string, unknown>)
      .filter((e) => e.RequestId === requestId);
    assert.equal(found.length, 1, `one audit event for ${String(requestId)}`);
    const event = { ...found[0] };
    delete event.EventId;
    delete event.Time;
    return event;
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
    const login = nodeLogin(stack, r.body);
    assert.equal(login.username, stack.keys.nodeAclUser(nodeId));
    const asNode = clientOf(login.target);
    try {
      assert.equal(String(await asNode.call('ACL', 'WHOAMI')), login.username);
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
    // Once its node is deregistered, it can be deleted.
    const gone = await admin('DeregisterNodes', { NodeId: [nodeId] });
    assert.equal(gone.status, 200, JSON.stringify(gone.body));
    const deleted = await admin('DeleteActivation', { ActivationId: a.id });
    assert.equal(deleted.status, 200, JSON.stringify(deleted.body));
    assert.equal(await stack.redis.exists(stack.keys.activation(a.id)), 0);
  });

  void it("without NodeId or InstanceName the node is named after the agent's host", async () => {
    const a = await create();
    const r = await register({
      ActivationId: a.id,
      ActivationCode: a.code,
      Hostname: 'host-7.example.com',
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.NodeId, 'host-7');
    // A host name that is no node id, and no NodeId: refused, naming the field.
    const bad = await register({ ActivationId: a.id, ActivationCode: a.code, Hostname: '-x' });
    assert.equal(bad.status, 400, JSON.stringify(bad.body));
    assert.match(String(bad.body.Message), /NodeId/);
  });

  void it('RegisterNode is in the OpenAPI document and its success is audited with the node', async () => {
    const doc = (await (await fetch(`${stack.url}/docs/openapi.json`)).json()) as {
      paths: Record<string, { post?: Record<string, unknown> }>;
      components: { schemas: Record<string, { properties?: Record<string, unknown> }> };
    };
    const post = doc.paths['/v1/RegisterNode']?.post;
    assert.ok(post, 'documented');
    assert.deepEqual(post.security, [], 'no bearer token');
    const responses = post.responses as Record<string, unknown>;
    assert.ok(!('401' in responses), 'no token error');
    assert.ok(JSON.stringify(responses['403']).includes('InvalidActivationCode.Mismatch'));
    assert.ok(JSON.stringify(responses['409']).includes('InvalidNodeId.Taken'));
    assert.deepEqual(
      Object.keys(doc.components.schemas.RegisterNodeRequest?.properties ?? {}).sort(),
      ['ActivationCode', 'ActivationId', 'Hostname', 'NodeId'],
    );

    const a = await create({ InstanceCount: 1 });
    const r = await register({ ActivationId: a.id, ActivationCode: a.code, NodeId: 'aud-reg' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    // The answer is the documented one (strict: an undocumented field fails).
    registerNodeResponse.parse(r.body);
    assert.deepEqual(await auditEventOf(r.body.RequestId), {
      Action: 'RegisterNode',
      Interface: 'api',
      SourceIp: '127.0.0.1',
      RequestId: r.body.RequestId,
      HttpStatus: 200,
      ResultCode: 'Success',
      NodeIds: ['aud-reg'],
      NodeCount: 1,
    });
    const raw = await rawAudit();
    assert.ok(!raw.includes(a.code), 'no activation code in the audit trail');
    const { password } = nodeLogin(stack, r.body);
    assert.ok(password.length > 0 && !raw.includes(password), "no node's password either");
    // DeregisterNodes names its nodes too.
    const gone = await admin('DeregisterNodes', { NodeId: ['aud-reg'] });
    assert.equal(gone.status, 200, JSON.stringify(gone.body));
    const dereg = await auditEventOf(gone.body.RequestId);
    assert.deepEqual([dereg.Action, dereg.NodeIds], ['DeregisterNodes', ['aud-reg']]);
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
      const event = await auditEventOf(r.body.RequestId);
      assert.deepEqual(
        event,
        {
          Action: 'RegisterNode',
          Interface: 'api',
          SourceIp: '127.0.0.1',
          RequestId: r.body.RequestId,
          HttpStatus: status,
          ResultCode: code,
        },
        `${what}: audited without the body`,
      );
    }
    const raw = await rawAudit();
    for (const a of [good, disabled, expired, ranged, deleted]) {
      assert.ok(!raw.includes(a.code), 'no activation code in the audit trail');
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

/** POSTs RegisterNode from a given local address (any 127.x.y.z reaches the loopback server). */
async function registerFrom(
  apiUrl: string,
  localAddress: string,
  body: Record<string, unknown>,
): Promise<ApiResponse> {
  const u = new URL('/v1/RegisterNode', apiUrl);
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: u.hostname,
        port: u.port,
        path: u.pathname,
        method: 'POST',
        localAddress,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(payload),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body: JSON.parse(text) as Record<string, unknown>,
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

void describe('RegisterNode rate limit per source address', () => {
  let stack: Stack;
  const LIMIT = 3;

  before(async () => {
    stack = await makeStack({
      FLEETCMD_API_TOKENS: `ops:admin:${ADMIN}`,
      FLEETCMD_REGISTER_RATE_LIMIT: String(LIMIT),
      // A window far longer than the test: no count is reset while it runs.
      FLEETCMD_RATE_LIMIT_WINDOW_SECONDS: '3600',
    });
  });
  after(async () => {
    await stack.close();
  });

  void it('many wrong codes from one address get 429; a right code from another address registers', async () => {
    const made = await stack.call('CreateActivation', { InstanceCount: 2 }, { token: ADMIN });
    assert.equal(made.status, 200, JSON.stringify(made.body));
    const id = String(made.body.ActivationId);
    const code = String(made.body.ActivationCode);
    const wrong = { ActivationId: id, ActivationCode: 'guess' };
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) {
      const r = await registerFrom(stack.url, '127.0.0.2', wrong);
      statuses.push(r.status);
      if (r.status === 429) assert.equal(r.body.Code, 'Throttling');
    }
    assert.deepEqual(statuses, [
      ...Array<number>(LIMIT).fill(403),
      ...Array<number>(10 - LIMIT).fill(429),
    ]);
    // The flooding address is refused even with the right code ...
    const blocked = await registerFrom(stack.url, '127.0.0.2', {
      ActivationId: id,
      ActivationCode: code,
    });
    assert.equal(blocked.status, 429);
    // ... while another address registers with it.
    const ok = await registerFrom(stack.url, '127.0.0.3', {
      ActivationId: id,
      ActivationCode: code,
      NodeId: 'rl-node',
    });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.equal(ok.body.NodeId, 'rl-node');
    const row = await stack.call('DescribeActivations', { ActivationId: id }, { token: ADMIN });
    assert.equal((row.body.ActivationList as { RegisteredCount: number }[])[0]?.RegisteredCount, 1);
  });
});
