/**
 * The audit trail against a real stack: every state-changing call through /v1, the RPC front
 * end and the Redis-side CLI commands appends one event; refused calls (401, 403, 400) are
 * recorded without their bodies; read-only calls are not; no content, parameter value, file
 * content, token or secret is ever in the stream (searched in the raw Redis values);
 * DescribeAuditEvents pages newest first and filters; retention trims the stream.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { hostname, userInfo } from 'node:os';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../src/shared/config.js';
import { AuditStore } from '../../src/store/audit-store.js';
import { redisNowMs } from '../../src/store/scripts.js';
import type { AuditEventView, DescribeAuditEventsAnswer } from '../../src/api/schemas/audit.js';
import { HANG_MS } from '../helpers/hang.js';
import { callRpc, genericClient, testAccessKey } from '../helpers/rpc.js';
import { makeStack, runCli, spawnCli, waitFor, type Stack } from '../helpers/stack.js';

const NODE = '2022-12-15';
const sha256 = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');
const marker = (what: string) => `${what}-${randomBytes(8).toString('hex')}`;

/** Every value of every entry of the audit stream, as stored. */
async function rawAudit(stack: Stack): Promise<string> {
  const rows = await stack.redis.xrange(stack.keys.auditLog(), '-', '+');
  return rows.map(([id, fields]) => `${id} ${fields.join(' ')}`).join('\n');
}

/** The stored events, oldest first, parsed. */
async function storedEvents(stack: Stack): Promise<(AuditEventView & { id: string })[]> {
  const rows = await stack.redis.xrange(stack.keys.auditLog(), '-', '+');
  return rows.map(([id, fields]) => ({ id, ...(JSON.parse(fields[1] ?? '{}') as AuditEventView) }));
}

async function eventOf(stack: Stack, requestId: unknown): Promise<AuditEventView> {
  const found = (await storedEvents(stack)).filter((e) => e.RequestId === requestId);
  assert.equal(found.length, 1, `one event for request ${String(requestId)}`);
  return found[0] as AuditEventView;
}

void describe('audit trail', () => {
  let stack: Stack;
  const key = testAccessKey();
  const readToken = randomBytes(16).toString('hex');
  const otherToken = randomBytes(16).toString('hex');

  before(async () => {
    stack = await makeStack({
      ...key.settings,
      FLEETCMD_API_TOKENS: `viewer:read:${readToken},ops:run:${otherToken}`,
    });
    // Registered (RunCommand refuses a node that never was); no agent runs anything.
    const nodes = [
      ...Array.from({ length: 12 }, (_, i) => `aud-${i}`),
      ...Array.from({ length: 5 }, (_, i) => `page-${i}`),
      'cli-list',
      'cli-follow',
    ];
    await stack.redis.sadd(stack.keys.nodeRegistry(), ...nodes);
  });
  after(() => stack.close());

  void it('records accepted writes with hashes, never content, parameter values, file contents, tokens or secrets', async () => {
    const content = marker('CONTENT');
    const paramValue = marker('PARAM');
    const fileText = marker('FILE');
    const b64Content = marker('B64CONTENT');
    const nodes = Array.from({ length: 12 }, (_, i) => `aud-${i}`);

    const run = await stack.call('RunCommand', {
      NodeIdList: nodes,
      CommandContent: `echo ${content} {{pw}}`,
      EnableParameter: true,
      Parameters: { pw: paramValue },
    });
    assert.equal(run.status, 200, JSON.stringify(run.body));
    const runEvent = await eventOf(stack, run.body.RequestId);
    assert.equal(runEvent.Action, 'RunCommand');
    assert.equal(runEvent.Interface, 'api');
    assert.equal(runEvent.Actor, 'default');
    assert.equal(runEvent.ActorType, 'ApiToken');
    assert.equal(runEvent.SourceIp, '127.0.0.1');
    assert.equal(runEvent.ResultCode, 'Success');
    assert.equal(runEvent.HttpStatus, 200);
    assert.equal(runEvent.InvokeId, run.body.InvokeId);
    assert.deepEqual(runEvent.NodeIds, nodes.slice(0, 10));
    assert.equal(runEvent.NodeCount, 12);
    assert.equal(runEvent.CommandContentSha256, sha256(`echo ${content} {{pw}}`));
    assert.deepEqual(runEvent.Parameters, [{ Name: 'pw', Sha256: sha256(paramValue) }]);

    // Base64 content is hashed as the bytes it stands for.
    const b64 = await stack.call('RunCommand', {
      NodeIdList: ['aud-0'],
      CommandContent: Buffer.from(`echo ${b64Content}`).toString('base64'),
      ContentEncoding: 'Base64',
    });
    assert.equal(b64.status, 200);
    assert.equal(
      (await eventOf(stack, b64.body.RequestId)).CommandContentSha256,
      sha256(`echo ${b64Content}`),
    );

    const created = await stack.call('CreateCommand', {
      Name: 'audited',
      CommandContent: `echo ${content} {{pw}}`,
      EnableParameter: true,
    });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    assert.equal((await eventOf(stack, created.body.RequestId)).CommandId, created.body.CommandId);
    const invoked = await stack.call('InvokeCommand', {
      CommandId: created.body.CommandId,
      NodeIdList: ['aud-1'],
      Parameters: { pw: paramValue },
    });
    assert.equal(invoked.status, 200, JSON.stringify(invoked.body));
    const invokeEvent = await eventOf(stack, invoked.body.RequestId);
    assert.equal(invokeEvent.CommandId, created.body.CommandId);
    assert.equal(invokeEvent.InvokeId, invoked.body.InvokeId);
    assert.deepEqual(invokeEvent.Parameters, [{ Name: 'pw', Sha256: sha256(paramValue) }]);

    const sent = await stack.call('SendFile', {
      NodeIdList: ['aud-2'],
      Name: 'f.txt',
      TargetDir: '/tmp',
      Content: fileText,
    });
    assert.equal(sent.status, 200, JSON.stringify(sent.body));
    const sendEvent = await eventOf(stack, sent.body.RequestId);
    assert.equal(sendEvent.ContentSha256, sha256(fileText));
    assert.equal(sendEvent.InvokeId, sent.body.InvokeId);

    const stopped = await stack.call('StopInvocation', { InvokeId: run.body.InvokeId });
    assert.equal(stopped.status, 200, JSON.stringify(stopped.body));
    assert.equal((await eventOf(stack, stopped.body.RequestId)).InvokeId, run.body.InvokeId);

    const rpc = await callRpc(genericClient(stack, key), NODE, 'RunCommand', {
      NodeIdList: ['aud-3'],
      CommandContent: `echo ${content}`,
    });
    const rpcEvent = await eventOf(stack, rpc.RequestId);
    assert.equal(rpcEvent.Interface, 'rpc');
    assert.equal(rpcEvent.Actor, key.id);
    assert.equal(rpcEvent.ActorType, 'AccessKey');
    assert.equal(rpcEvent.InvokeId, rpc.InvokeId);
    assert.equal(rpcEvent.CommandContentSha256, sha256(`echo ${content}`));

    const keyAdd = await runCli(['key', 'add', '--json'], stack.env);
    assert.equal(keyAdd.code, 0, keyAdd.stderr);
    const issued = JSON.parse(keyAdd.stdout) as { AccessKeyId: string; AccessKeySecret: string };

    const raw = await rawAudit(stack);
    for (const secret of [
      content,
      b64Content,
      Buffer.from(`echo ${b64Content}`).toString('base64'),
      paramValue,
      fileText,
      Buffer.from(fileText).toString('base64'),
      stack.token,
      readToken,
      otherToken,
      key.secret,
      issued.AccessKeySecret,
    ]) {
      assert.ok(!raw.includes(secret), `the audit stream holds ${secret}`);
    }
    assert.ok(raw.includes(issued.AccessKeyId), 'key add names the key it issued');
  });

  void it('records refusals without their bodies: 403 with the read token’s actor, 401 with none, 400', async () => {
    const content = marker('REFUSED');
    const forbidden = await stack.call(
      'RunCommand',
      { NodeIdList: ['aud-r'], CommandContent: `echo ${content}` },
      { token: readToken },
    );
    assert.equal(forbidden.status, 403);
    const f = await eventOf(stack, forbidden.body.RequestId);
    assert.equal(f.Actor, 'viewer');
    assert.equal(f.ActorType, 'ApiToken');
    assert.equal(f.ResultCode, 'Forbidden.Role');
    assert.equal(f.HttpStatus, 403);
    assert.equal(f.NodeIds, undefined);
    assert.equal(f.CommandContentSha256, undefined);

    const unauth = await stack.call(
      'RunCommand',
      { NodeIdList: ['aud-r'], CommandContent: `echo ${content}` },
      { token: 'not-a-token' },
    );
    assert.equal(unauth.status, 401);
    const u = await eventOf(stack, unauth.body.RequestId);
    assert.equal(u.Actor, undefined);
    assert.equal(u.ActorType, undefined);
    assert.equal(u.ResultCode, 'InvalidToken');
    assert.equal(u.Action, 'RunCommand');

    const bad = await stack.call('RunCommand', { NodeIdList: ['aud-r'], Name: content });
    assert.equal(bad.status, 400);
    const b = await eventOf(stack, bad.body.RequestId);
    assert.equal(b.Actor, 'default');
    assert.equal(b.ResultCode, 'MissingParameter');
    assert.equal(b.HttpStatus, 400);
    assert.equal(b.NodeIds, undefined);

    // A body that is no JSON at all: refused before any action, still recorded.
    const malformed = await stack.call('StopInvocation', undefined, { raw: `{"x": "${content}` });
    assert.equal(malformed.status, 400);
    assert.equal(
      (await eventOf(stack, malformed.body.RequestId)).ResultCode,
      'InvalidParameter.MalformedJson',
    );

    // An RPC call whose signature fails: recorded under the action it asked for, no actor.
    const wrongKey = { id: key.id, secret: 'x'.repeat(24) };
    await assert.rejects(
      callRpc(genericClient(stack, wrongKey), NODE, 'RunCommand', {
        NodeIdList: ['aud-r'],
        CommandContent: `echo ${content}`,
      }),
    );
    const rpcRefused = (await storedEvents(stack)).at(-1);
    assert.equal(rpcRefused?.Interface, 'rpc');
    assert.equal(rpcRefused?.Action, 'RunCommand');
    assert.equal(rpcRefused?.Actor, undefined);
    assert.notEqual(rpcRefused?.ResultCode, 'Success');

    assert.ok(!(await rawAudit(stack)).includes(content));
  });

  void it('does not record read-only calls', async () => {
    const before = await stack.redis.xlen(stack.keys.auditLog());
    for (const action of ['DescribeInvocations', 'DescribeNodes', 'DescribeAuditEvents']) {
      assert.equal((await stack.call(action, {})).status, 200, action);
    }
    // Refused reads are not writes either.
    assert.equal((await stack.call('DescribeNodes', {}, { token: 'nope' })).status, 401);
    await callRpc(genericClient(stack, key), NODE, 'DescribeNodes', {});
    assert.equal(await stack.redis.xlen(stack.keys.auditLog()), before);
  });

  void it('records `node add` and `key add|remove` as cli:<user>@<host>', async () => {
    const nodeId = `aud-cli-${randomBytes(3).toString('hex')}`;
    const added = await runCli(['node', 'add', nodeId, '--json'], stack.env);
    assert.equal(added.code, 0, added.stderr);
    // REDIS_URL, or on a cluster REDIS_CLUSTER_NODES with REDIS_USERNAME and REDIS_PASSWORD.
    const node = loadConfig(
      (JSON.parse(added.stdout) as { settings: Record<string, string> }).settings,
    ).redis;
    const password = node.kind === 'url' ? new URL(node.url).password : (node.password ?? '');
    const removed = await runCli(['node', 'remove', nodeId, '--json'], stack.env);
    assert.equal(removed.code, 0, removed.stderr);
    const keyAdd = await runCli(['key', 'add', '--json'], stack.env);
    const { AccessKeyId } = JSON.parse(keyAdd.stdout) as { AccessKeyId: string };
    assert.equal((await runCli(['key', 'remove', AccessKeyId], stack.env)).code, 0);

    const actor = `cli:${userInfo().username}@${hostname()}`;
    const events = (await storedEvents(stack)).filter((e) => e.Interface === 'cli');
    const pick = (action: string, match: (e: AuditEventView) => boolean) =>
      events.find((e) => e.Action === action && match(e));
    for (const e of [
      pick('AddNode', (e) => e.NodeIds?.[0] === nodeId),
      pick('RemoveNode', (e) => e.NodeIds?.[0] === nodeId),
      pick('AddAccessKey', (e) => e.AccessKeyId === AccessKeyId),
      pick('RemoveAccessKey', (e) => e.AccessKeyId === AccessKeyId),
    ]) {
      assert.ok(e, 'an event per CLI write');
      assert.equal(e.Actor, actor);
      assert.equal(e.ActorType, 'Cli');
      assert.equal(e.ResultCode, 'Success');
    }
    assert.ok(password.length > 0);
    assert.ok(!(await rawAudit(stack)).includes(password), 'the node password is not stored');
  });

  void it('DescribeAuditEvents pages newest first, filters by Action, Actor and time, and is for run tokens only', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await stack.call(
        'RunCommand',
        { NodeIdList: [`page-${i}`], CommandContent: 'true' },
        { token: otherToken },
      );
      ids.push(String(r.body.InvokeId));
    }
    const mine = { Actor: 'ops', Action: 'RunCommand' };
    const seen: AuditEventView[] = [];
    let token: string | undefined;
    let pagesRead = 0;
    do {
      const r = await stack.call('DescribeAuditEvents', {
        ...mine,
        MaxResults: 2,
        ...(token ? { NextToken: token } : {}),
      });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      const a = r.body as unknown as DescribeAuditEventsAnswer;
      assert.ok(a.AuditEvents.AuditEvent.length <= 2);
      seen.push(...a.AuditEvents.AuditEvent);
      token = a.NextToken;
      pagesRead++;
    } while (token !== undefined && pagesRead < 10);
    assert.deepEqual(
      seen.map((e) => e.InvokeId),
      [...ids].reverse(),
      'every event once, newest first',
    );
    assert.equal(pagesRead, 3);
    const eventIds = seen.map((e) => e.EventId);
    assert.deepEqual([...eventIds].sort().reverse(), eventIds);

    // A time window: only the middle three.
    const third = seen[3];
    const first = seen[1];
    assert.ok(third && first);
    const windowed = await stack.call('DescribeAuditEvents', {
      ...mine,
      StartTime: third.Time,
      EndTime: first.Time,
      MaxResults: 50,
    });
    const inWindow = (windowed.body as unknown as DescribeAuditEventsAnswer).AuditEvents.AuditEvent;
    for (const id of ids.slice(1, 4))
      assert.ok(
        inWindow.some((e) => e.InvokeId === id),
        id,
      );
    assert.ok(!inWindow.some((e) => e.InvokeId === ids[4] && e.Time > first.Time));

    const none = await stack.call('DescribeAuditEvents', { Actor: 'nobody-at-all' });
    assert.deepEqual(
      (none.body as unknown as DescribeAuditEventsAnswer).AuditEvents.AuditEvent,
      [],
    );

    const refused = await stack.call('DescribeAuditEvents', {}, { token: readToken });
    assert.equal(refused.status, 403);
    assert.equal(refused.body.Code, 'Forbidden.Role');
    const badTime = await stack.call('DescribeAuditEvents', { StartTime: 'yesterday' });
    assert.equal(badTime.status, 400);
    assert.match(String(badTime.body.Message), /StartTime/);

    // Over RPC, `Action` is the RPC action: the filter is EventAction there.
    const viaRpc = await callRpc(genericClient(stack, key), NODE, 'DescribeAuditEvents', {
      Actor: 'ops',
      EventAction: 'RunCommand',
      MaxResults: 1,
    });
    const rpcPage = viaRpc as unknown as DescribeAuditEventsAnswer;
    assert.equal(rpcPage.AuditEvents.AuditEvent[0]?.InvokeId, ids[4]);
    assert.ok(rpcPage.NextToken);
  });

  void it('fleetcmd audit lists events and --follow prints new ones', async () => {
    const env = { FLEETCMD_URL: stack.url, FLEETCMD_API_TOKEN: stack.token };
    const r = await stack.call('RunCommand', { NodeIdList: ['cli-list'], CommandContent: 'true' });
    const listed = await runCli(['audit', '--action', 'RunCommand', '--max', '3'], env);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /^TIME\s+ACTOR\s+SOURCE\s+ACTION/);
    assert.ok(listed.stdout.includes(String(r.body.InvokeId)));

    let out = '';
    const follower = spawnCli(['audit', '--follow', '--json'], env, (d) => (out += d.toString()));
    const printed = (id: unknown) =>
      waitFor(
        `fleetcmd audit --follow to print ${String(id)}`,
        async () => {
          if (follower.child.exitCode !== null) throw new Error(`exited: ${out}`);
          return out.includes(String(id));
        },
        HANG_MS,
      );
    try {
      await printed(r.body.InvokeId);
      const later = await stack.call('RunCommand', {
        NodeIdList: ['cli-follow'],
        CommandContent: 'true',
      });
      await printed(later.body.InvokeId);
      // One JSON event per line.
      for (const l of out.trim().split('\n')) assert.ok((JSON.parse(l) as AuditEventView).EventId);
    } finally {
      follower.child.kill('SIGTERM');
      await follower.done;
    }
  });
});

void describe('audit retention', () => {
  let stack: Stack;
  before(async () => {
    stack = await makeStack();
  });
  after(() => stack.close());

  void it('an append trims events older than the retention (whole stream nodes), and readers never see them', async () => {
    const event = (n: number) => ({
      Action: 'RunCommand',
      Interface: 'api' as const,
      SourceIp: '127.0.0.1',
      RequestId: `old-${n}`,
      HttpStatus: 200,
      ResultCode: 'Success',
    });
    const long = new AuditStore(stack.redis, stack.keys, 3_600_000);
    for (let i = 0; i < 250; i++) await long.append(event(i));
    const lastOld = (await stack.redis.xrevrange(stack.keys.auditLog(), '+', '-', 'COUNT', 1))[0];
    assert.ok(lastOld);
    const lastOldMs = Number(lastOld[0].split('-')[0]);

    // The same stream read with a 200 ms retention, once Redis's clock is past it.
    const short = new AuditStore(stack.redis, stack.keys, 200);
    await waitFor(
      'Redis time to pass the retention',
      async () => (await redisNowMs(stack.redis)) > lastOldMs + 200,
      HANG_MS,
    );
    await short.append({ ...event(999), RequestId: 'new' });
    const left = await stack.redis.xlen(stack.keys.auditLog());
    assert.ok(left < 100, `${left} entries left of 251`);
    const now = await redisNowMs(stack.redis);
    const visible = await short.page({ startMs: now - short.retentionMs, count: 500 });
    assert.deepEqual(
      visible.map((e) => e.event.RequestId),
      ['new'],
    );
  });
});
