import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { startPrivateRedis, type PrivateRedis } from '../../src/dev/private-redis.js';
import { makeRedis } from '../../src/store/redis.js';
import type { DescribeInvocationsAnswer } from '../../src/api/schemas/response.js';
import { HANG_MS, hangBound } from '../helpers/hang.js';
import { keysUnder } from '../helpers/redis.js';
import {
  makeStack,
  nodeOf,
  relayCaughtUp,
  run,
  VOLATILE_KEY_RE,
  waitFinal,
  type ApiResponse,
  type Stack,
} from '../helpers/stack.js';

/** RequestIds are upper-case UUIDs. */
const REQUEST_ID_RE = /^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$/i;
const INVOKE_ID_RE = /^t-[a-z0-9]{17}$/;

/** Keys that exist only while some job or run is still in flight. */
const IN_FLIGHT_KEY_RE =
  /:(?:delayed|active|wait|marker|prioritized|paused|waiting-children|lock)$/;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The longest step between the server's reconnect attempts (its clients' retryStrategy). */
const MAX_RETRY_STEP_MS = 2_000;

interface Snapshot {
  keys: string[];
  indexed: number;
}

async function snapshot(stack: Stack): Promise<Snapshot> {
  const keys = (await keysUnder(stack.redis, stack.prefix)).filter((k) => !VOLATILE_KEY_RE.test(k));
  const indexed = await stack.redis.zcard(stack.keys.invocationIndex());
  return { keys, indexed };
}

/**
 * Waits until earlier (accepted) invocations have settled: nothing in flight (runs, dispatch
 * and delivery-timeout jobs) and the key set stable over a short interval.
 */
async function quiesce(stack: Stack): Promise<Snapshot> {
  return stack.waitFor(
    'the stack to go quiet',
    async () => {
      const a = await snapshot(stack);
      for (const k of a.keys.filter((key) => IN_FLIGHT_KEY_RE.test(key))) {
        // A job scheduler (the schedulers' upkeep, a schedule) always holds its next job.
        const scheduled = k.endsWith(':delayed')
          ? (await stack.redis.zrange(k, 0, -1)).every((id) => id.startsWith('repeat:'))
          : false;
        if (!scheduled) return undefined;
      }
      await sleep(100);
      const b = await snapshot(stack);
      return JSON.stringify(a) === JSON.stringify(b) ? b : undefined;
    },
    20_000,
  );
}

function assertErrorBody(res: ApiResponse, status: number, code: string): void {
  assert.equal(res.status, status, JSON.stringify(res.body));
  assert.equal(res.body.Code, code, JSON.stringify(res.body));
  assert.match(String(res.body.RequestId), REQUEST_ID_RE);
  assert.equal(typeof res.body.Message, 'string');
  assert.ok((res.body.Message as string).length > 0, 'Message is not empty');
}

interface Rejection {
  status?: number;
  code: string;
  /** What the Message must say (e.g. the field's name). */
  mentions?: (string | RegExp)[];
}

/** Sends a request that must be rejected and checks that nothing under the prefix changed. */
async function expectRejected(
  stack: Stack,
  action: string,
  body: unknown,
  opts: { token?: string | null; raw?: string },
  want: Rejection,
): Promise<ApiResponse> {
  const before = await quiesce(stack);
  const res = await stack.call(action, body, opts);
  assertErrorBody(res, want.status ?? 400, want.code);
  for (const m of want.mentions ?? []) {
    if (typeof m === 'string')
      assert.ok(
        (res.body.Message as string).includes(m),
        `${m} in Message: ${String(res.body.Message)}`,
      );
    else assert.match(res.body.Message as string, m);
  }
  const afterwards = await snapshot(stack);
  assert.deepEqual(afterwards.keys, before.keys, 'the rejected request changed keys');
  assert.equal(afterwards.indexed, before.indexed, 'the rejected request indexed an invocation');
  return res;
}

const OK_BODY = { NodeIdList: ['n1'], CommandContent: 'true' } as const;
const UNAUTHORIZED: Rejection = { status: 401, code: 'InvalidToken' };

function b64url(text: string): string {
  return Buffer.from(text).toString('base64url');
}

void describe('API validation, errors and limits', () => {
  let stack: Stack;

  before(async () => {
    stack = await makeStack();
    await stack.startAgent('n1');
    await relayCaughtUp(stack, 1);
  });
  after(async () => {
    await stack.close();
  });

  void describe('RunCommand accepted', () => {
    void it('answers 200 with a RequestId and an InvokeId in the vendor form', async () => {
      const before = await quiesce(stack);
      const res = await stack.call('RunCommand', OK_BODY);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.match(String(res.body.RequestId), REQUEST_ID_RE);
      assert.match(String(res.body.InvokeId), INVOKE_ID_RE);
      const id = res.body.InvokeId as string;
      assert.notEqual(await stack.redis.zscore(stack.keys.invocationIndex(), id), null);
      assert.equal(await stack.redis.zcard(stack.keys.invocationIndex()), before.indexed + 1);
      const inv = await waitFinal(stack, id);
      assert.equal(nodeOf(inv, 'n1').InvocationStatus, 'Success');
    });

    void it('two requests get different RequestIds and InvokeIds', async () => {
      const a = await stack.call('RunCommand', OK_BODY);
      const b = await stack.call('RunCommand', OK_BODY);
      assert.equal(a.status, 200);
      assert.equal(b.status, 200);
      assert.notEqual(a.body.RequestId, b.body.RequestId);
      assert.notEqual(a.body.InvokeId, b.body.InvokeId);
      await waitFinal(stack, a.body.InvokeId as string);
      await waitFinal(stack, b.body.InvokeId as string);
    });

    void it('accepts PlainText content of exactly 24 KiB once Base64-encoded (18,432 bytes)', async () => {
      const content = `: ${'a'.repeat(18_432 - 2)}`;
      assert.equal(Buffer.from(content).toString('base64').length, 24_576);
      const res = await stack.call('RunCommand', { NodeIdList: ['n1'], CommandContent: content });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.match(String(res.body.InvokeId), INVOKE_ID_RE);
      const inv = await waitFinal(stack, res.body.InvokeId as string);
      assert.equal(nodeOf(inv, 'n1').InvocationStatus, 'Success');
    });

    void it('accepts Base64 content that decodes to exactly 18,432 bytes', async () => {
      const b64 = Buffer.from(`: ${'b'.repeat(18_432 - 2)}`).toString('base64');
      assert.equal(b64.length, 24_576);
      const res = await stack.call('RunCommand', {
        NodeIdList: ['n1'],
        CommandContent: b64,
        ContentEncoding: 'Base64',
      });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      await waitFinal(stack, res.body.InvokeId as string);
    });
  });

  void describe('authentication', () => {
    void it('no Authorization header is 401 InvalidToken and changes nothing', async () => {
      await expectRejected(stack, 'RunCommand', OK_BODY, { token: null }, UNAUTHORIZED);
    });

    void it('a wrong token is 401', async () => {
      await expectRejected(stack, 'RunCommand', OK_BODY, { token: 'wrong-token' }, UNAUTHORIZED);
    });

    void it('the right token with a suffix is 401', async () => {
      await expectRejected(
        stack,
        'RunCommand',
        OK_BODY,
        { token: `${stack.token}x` },
        UNAUTHORIZED,
      );
    });

    void it('"Bearer" with an empty token is 401', async () => {
      await expectRejected(stack, 'RunCommand', OK_BODY, { token: '' }, UNAUTHORIZED);
    });

    void it('the token under another scheme is 401', async () => {
      const res = await fetch(`${stack.url}/v1/DescribeNodes`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Basic ${stack.token}` },
        body: '{}',
      });
      const body = (await res.json()) as Record<string, unknown>;
      assertErrorBody({ status: res.status, body }, 401, 'InvalidToken');
    });

    void it('auth is checked before the body: malformed JSON without a token is 401', async () => {
      await expectRejected(
        stack,
        'RunCommand',
        null,
        { token: null, raw: '{"NodeIdList": [' },
        UNAUTHORIZED,
      );
    });

    void it('every action needs the token', async () => {
      for (const action of ['DescribeInvocations', 'StopInvocation', 'DescribeNodes']) {
        const res = await stack.call(action, {}, { token: null });
        assertErrorBody(res, 401, 'InvalidToken');
      }
    });
  });

  void describe('RunCommand on an unknown node', () => {
    void it('is 400 InvalidNodeId.NotFound naming the node, and creates nothing', async () => {
      await expectRejected(
        stack,
        'RunCommand',
        { NodeIdList: ['n1', 'ghost'], CommandContent: 'true' },
        {},
        {
          code: 'InvalidNodeId.NotFound',
          mentions: ['ghost', 'NodeIdList'],
        },
      );
    });

    void it('does not name the known node as missing', async () => {
      const res = await expectRejected(
        stack,
        'RunCommand',
        { NodeIdList: ['ghost2', 'n1'], CommandContent: 'true' },
        {},
        {
          code: 'InvalidNodeId.NotFound',
          mentions: ['ghost2'],
        },
      );
      assert.doesNotMatch(res.body.Message as string, /"n1"/);
    });
  });

  void describe('RunCommand bad bodies are 400 and change nothing', () => {
    const with_ = (extra: Record<string, unknown>) => ({ ...OK_BODY, ...extra });
    const TOO_MANY = Array.from({ length: 1001 }, (_, i) => `n${i}`);
    const cases: { name: string; body?: unknown; raw?: string; want: Rejection }[] = [
      {
        name: 'malformed JSON',
        raw: '{"NodeIdList": [',
        want: { code: 'InvalidParameter.MalformedJson', mentions: [/JSON/] },
      },
      {
        name: 'JSON with trailing garbage',
        raw: '{"NodeIdList":["n1"],"CommandContent":"true"} x',
        want: { code: 'InvalidParameter.MalformedJson' },
      },
      {
        name: 'body is a JSON array',
        body: [OK_BODY],
        want: { code: 'InvalidParameter', mentions: [/JSON object/] },
      },
      {
        name: 'body is an empty array',
        raw: '[]',
        want: { code: 'InvalidParameter', mentions: [/JSON object/] },
      },
      {
        name: 'body is a JSON string',
        body: 'n1 true',
        want: { code: 'InvalidParameter', mentions: [/JSON object/] },
      },
      {
        name: 'body is a number',
        raw: '42',
        want: { code: 'InvalidParameter', mentions: [/JSON object/] },
      },
      {
        name: 'body is false',
        raw: 'false',
        want: { code: 'InvalidParameter', mentions: [/JSON object/] },
      },
      // `null` (and an empty body) are read as "no fields": the first required field is missing.
      {
        name: 'body is null',
        raw: 'null',
        want: { code: 'MissingParameter', mentions: ['NodeIdList'] },
      },
      {
        name: 'body is empty',
        raw: '',
        want: { code: 'MissingParameter', mentions: ['NodeIdList'] },
      },
      {
        name: 'missing CommandContent',
        body: { NodeIdList: ['n1'] },
        want: { code: 'MissingParameter', mentions: ['CommandContent'] },
      },
      {
        name: 'missing NodeIdList',
        body: { CommandContent: 'true' },
        want: { code: 'MissingParameter', mentions: ['NodeIdList'] },
      },
      {
        name: 'CommandContent null',
        body: with_({ CommandContent: null }),
        want: { code: 'InvalidParameter', mentions: ['CommandContent'] },
      },
      {
        name: 'empty CommandContent',
        body: with_({ CommandContent: '' }),
        want: { code: 'InvalidParameter', mentions: ['CommandContent'] },
      },
      {
        name: 'CommandContent not a string',
        body: with_({ CommandContent: 42 }),
        want: { code: 'InvalidParameter', mentions: ['CommandContent'] },
      },
      {
        name: 'NodeIdList not an array',
        body: with_({ NodeIdList: 'n1' }),
        want: { code: 'InvalidParameter', mentions: ['NodeIdList'] },
      },
      {
        name: 'NodeIdList empty',
        body: with_({ NodeIdList: [] }),
        want: { code: 'InvalidParameter', mentions: ['NodeIdList'] },
      },
      {
        name: 'NodeIdList of 1001 ids',
        body: with_({ NodeIdList: TOO_MANY }),
        want: { code: 'InvalidParameter', mentions: ['NodeIdList'] },
      },
      {
        name: 'NodeIdList with a duplicate',
        body: with_({ NodeIdList: ['n1', 'n1'] }),
        want: { code: 'InvalidParameter', mentions: ['NodeIdList'] },
      },
      ...['a b', 'x:y', '{n1}', '', '-n1', '../n1', 'n1*', 'é', 'a'.repeat(65)].map((id) => ({
        name: `NodeIdList with the id ${JSON.stringify(id.length > 20 ? `${id.slice(0, 8)}…(${id.length})` : id)}`,
        body: with_({ NodeIdList: ['n1', id] }),
        want: { code: 'InvalidParameter', mentions: ['NodeIdList'] },
      })),
      {
        name: 'NodeIdList with a number',
        body: with_({ NodeIdList: [1] }),
        want: { code: 'InvalidParameter', mentions: ['NodeIdList'] },
      },
      ...[0, -1, 86_401, 1.5, '60', null, true].map((t) => ({
        name: `Timeout ${JSON.stringify(t)}`,
        body: with_({ Timeout: t }),
        want: { code: 'InvalidParameter', mentions: ['Timeout'] },
      })),
      {
        name: "ContentEncoding 'Hex'",
        body: with_({ ContentEncoding: 'Hex' }),
        want: { code: 'InvalidParameter', mentions: ['ContentEncoding'] },
      },
      ...['@@@', 'abc', 'dHJ1ZQ=', 'dHJ1ZQ==='].map((c) => ({
        name: `Base64 content ${JSON.stringify(c)} that is not Base64`,
        body: with_({ CommandContent: c, ContentEncoding: 'Base64' }),
        want: { code: 'InvalidCommandContent.Malformed', mentions: ['CommandContent'] },
      })),
      {
        name: 'PlainText content of 18,433 bytes (24,580 once Base64-encoded)',
        body: with_({ CommandContent: `: ${'a'.repeat(18_433 - 2)}` }),
        want: {
          code: 'InvalidCommandContent.LengthLimitExceeded',
          mentions: ['CommandContent', '24580'],
        },
      },
      {
        name: 'multi-byte PlainText content over the limit in bytes, not characters',
        // 6,145 x "€" is 18,435 bytes: under the limit in characters, over it in bytes.
        body: with_({ CommandContent: `#${'€'.repeat(6_145)}` }),
        want: { code: 'InvalidCommandContent.LengthLimitExceeded', mentions: ['CommandContent'] },
      },
      {
        name: 'Base64 content decoding to 18,433 bytes',
        body: with_({
          CommandContent: Buffer.from('a'.repeat(18_433)).toString('base64'),
          ContentEncoding: 'Base64',
        }),
        want: { code: 'InvalidCommandContent.LengthLimitExceeded', mentions: ['CommandContent'] },
      },
      {
        name: "unknown field 'Foo'",
        body: with_({ Foo: 1 }),
        want: { code: 'InvalidParameter', mentions: ['Foo'] },
      },
      {
        name: 'field names are case-sensitive (nodeIdList is not NodeIdList)',
        body: { nodeIdList: ['n1'], CommandContent: 'true' },
        want: { code: 'MissingParameter', mentions: ['NodeIdList'] },
      },
      {
        name: 'a mis-cased field next to the right one is unknown',
        body: { ...OK_BODY, nodeIdList: ['n1'] },
        want: { code: 'InvalidParameter', mentions: ['nodeIdList'] },
      },
      ...(
        [
          ['0 * * * *', /six fields|seconds/i],
          ['61 * * * * *', /second/],
          ['0 60 * * * *', /minute/],
          ['0 0 24 * * *', /hour/],
          ['0 0 0 32 * *', /day-of-month/],
          ['0 0 0 * 13 *', /month/],
          ['0 0 0 * * 8', /day-of-week/],
          ['0 0 0 15W * *', /W/],
          ['0 0 0 31 2 *', /never|day-of-month/],
          ['0 0 0 * * * 2020', /year/],
          ['0 0 0 * * * 2100', /year/],
          ['0 0 0 * * * Mars/Olympus', /time zone/],
          ['0 0 0 * * * GMT+25:00', /time zone/],
          ['*/5 * * * * *', /interval|often|10/],
          ['rate(5s)', /rate/],
          ['rate(0m)', /rate/],
          ['rate(5x)', /rate/],
          ['at(2020-01-01 00:00:00)', /at|past/],
          ['at(2026-13-01 00:00:00)', /at|month/],
          ['every day', /Frequency/],
        ] as const
      ).map(([f, why]) => ({
        name: `Frequency ${JSON.stringify(f)}`,
        body: with_({ Frequency: f }),
        want: { code: 'InvalidParameter.Frequency', mentions: ['Frequency', why] },
      })),
      {
        name: 'RepeatMode Period without a Frequency',
        body: with_({ RepeatMode: 'Period' }),
        want: { code: 'MissingParameter', mentions: ['Frequency', 'Period'] },
      },
      {
        name: 'RepeatMode not in the enum',
        body: with_({ RepeatMode: 'Twice' }),
        want: { code: 'InvalidParameter', mentions: ['RepeatMode'] },
      },
      ...[true, 'true'].map((v) => ({
        name: `EnableParameter ${JSON.stringify(v)} with a parameter that has no value`,
        body: with_({ EnableParameter: v, CommandContent: 'echo {{ who }}', Parameters: {} }),
        want: { code: 'InvalidParameter', mentions: ['Parameters', '"who"'] },
      })),
      {
        name: 'Parameters naming an ACS:: built-in',
        body: with_({
          EnableParameter: true,
          CommandContent: 'echo {{ACS::NodeId}}',
          Parameters: { 'ACS::NodeId': 'x' },
        }),
        want: { code: 'InvalidParameter', mentions: ['Parameters', 'ACS::'] },
      },
      {
        name: 'content over the limit once its parameters are replaced',
        body: with_({
          EnableParameter: true,
          CommandContent: '{{a}}{{a}}',
          Parameters: { a: 'x'.repeat(10_000) },
        }),
        want: {
          code: 'InvalidCommandContent.LengthLimitExceeded',
          mentions: ['CommandContent', 'substitution'],
        },
      },
      {
        name: "Username 'bad user'",
        body: with_({ Username: 'bad user' }),
        want: { code: 'InvalidParameter', mentions: ['Username'] },
      },
      {
        name: 'ClientToken of 65 characters',
        body: with_({ ClientToken: 'c'.repeat(65) }),
        want: { code: 'InvalidParameter', mentions: ['ClientToken'] },
      },
      {
        name: 'TerminationMode not in the enum',
        body: with_({ TerminationMode: 'Kill' }),
        want: { code: 'InvalidParameter', mentions: ['TerminationMode'] },
      },
      {
        name: 'WorkingDir with NUL',
        body: with_({ WorkingDir: '/tmp\u0000x' }),
        want: { code: 'InvalidParameter', mentions: ['WorkingDir'] },
      },
      {
        name: 'Parameters with 11 entries',
        body: with_({
          Parameters: Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`p${i}`, 'v'])),
        }),
        want: { code: 'InvalidParameter', mentions: ['Parameters'] },
      },
    ];

    for (const c of cases) {
      void it(c.name, async () => {
        await expectRejected(
          stack,
          'RunCommand',
          c.body,
          c.raw !== undefined ? { raw: c.raw } : {},
          c.want,
        );
      });
    }

    void it('a __proto__ key in the JSON text is rejected and pollutes nothing', async () => {
      await expectRejected(
        stack,
        'RunCommand',
        null,
        { raw: '{"__proto__":{"x":1},"NodeIdList":["n1"],"CommandContent":"true"}' },
        { code: 'InvalidParameter', mentions: ['__proto__'] },
      );
      assert.equal(({} as Record<string, unknown>).x, undefined);
      assert.equal(Object.prototype.hasOwnProperty.call(Object.prototype, 'x'), false);
    });

    void it('a constructor key in the JSON text is rejected and pollutes nothing', async () => {
      await expectRejected(
        stack,
        'RunCommand',
        null,
        {
          raw: '{"constructor":{"prototype":{"x":1}},"NodeIdList":["n1"],"CommandContent":"true"}',
        },
        { code: 'InvalidParameter', mentions: ['constructor'] },
      );
      assert.equal(({} as Record<string, unknown>).x, undefined);
    });

    void it('a __proto__ key inside Parameters pollutes nothing', async () => {
      const before = await quiesce(stack);
      const res = await stack.call('RunCommand', null, {
        raw: '{"NodeIdList":["n1"],"CommandContent":"true","Parameters":{"__proto__":{"x":1}}}',
      });
      assert.equal(res.status, 400, JSON.stringify(res.body));
      assert.equal(({} as Record<string, unknown>).x, undefined);
      const afterwards = await snapshot(stack);
      assert.deepEqual(afterwards, before);
    });
  });

  void describe('unknown actions and ids', () => {
    let running: string;

    void it('an unknown action is 404 InvalidAction.NotFound', async () => {
      await expectRejected(
        stack,
        'NoSuchAction',
        {},
        {},
        {
          status: 404,
          code: 'InvalidAction.NotFound',
          mentions: ['NoSuchAction'],
        },
      );
    });

    void it('an inherited property name is not an action', async () => {
      for (const action of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
        const res = await stack.call(action, {});
        assertErrorBody(res, 404, 'InvalidAction.NotFound');
      }
    });

    void it('an unknown path outside /v1 is 404 InvalidAction.NotFound', async () => {
      const res = await fetch(`${stack.url}/nope`);
      const body = (await res.json()) as Record<string, unknown>;
      assertErrorBody({ status: res.status, body }, 404, 'InvalidAction.NotFound');
    });

    void it('DescribeInvocations with an InvokeId that does not exist is 404', async () => {
      await expectRejected(
        stack,
        'DescribeInvocations',
        { InvokeId: 't-doesnotexist00000' },
        {},
        {
          status: 404,
          code: 'InvalidInvokeId.NotFound',
          mentions: ['t-doesnotexist00000'],
        },
      );
    });

    void it('StopInvocation with an InvokeId that does not exist is 404 and changes nothing', async () => {
      await expectRejected(
        stack,
        'StopInvocation',
        { InvokeId: 't-doesnotexist00000' },
        {},
        {
          status: 404,
          code: 'InvalidInvokeId.NotFound',
          mentions: ['t-doesnotexist00000'],
        },
      );
    });

    void it('StopInvocation naming a node that is not a target is 400 and stops nothing', async () => {
      running = await run(stack, {
        NodeIdList: ['n1'],
        CommandContent: 'echo started; sleep 30',
        Timeout: 60,
      });
      await stack.waitFor('the run to start', async () => {
        const n = nodeOf(await stack.describe(running), 'n1');
        return n.InvocationStatus === 'Running' && n.Output === 'started\n';
      });
      // What a stop writes (the invocation's stop mark, the run record) before it answers.
      const records = async () => [
        await stack.redis.hgetall(stack.keys.invocation(running)),
        await stack.redis.hgetall(stack.keys.nodeRun('n1', running)),
      ];
      for (const list of [['ghost'], ['n1', 'ghost']]) {
        const before = await records();
        const res = await stack.call('StopInvocation', { InvokeId: running, NodeIdList: list });
        assertErrorBody(res, 400, 'InvalidNodeId.NotFound');
        assert.match(res.body.Message as string, /ghost/);
        assert.deepEqual(await records(), before, 'the refused stop wrote nothing');
      }
      assert.equal(nodeOf(await stack.describe(running), 'n1').InvocationStatus, 'Running');
      const stop = await stack.call('StopInvocation', { InvokeId: running, NodeIdList: ['n1'] });
      assert.equal(stop.status, 200, JSON.stringify(stop.body));
      const inv = await waitFinal(stack, running);
      assert.equal(nodeOf(inv, 'n1').InvocationStatus, 'Terminated');
    });
  });

  void describe('body limit', () => {
    void it('a 300 KiB body is 413 PayloadTooLarge and changes nothing', async () => {
      const raw = JSON.stringify({ ...OK_BODY, Description: 'd'.repeat(300 * 1024) });
      assert.ok(raw.length > 300 * 1024);
      await expectRejected(
        stack,
        'RunCommand',
        null,
        { raw },
        {
          status: 413,
          code: 'PayloadTooLarge',
        },
      );
    });

    void it('a 300 KiB body without a token is still refused (401 or 413), never parsed', async () => {
      const raw = JSON.stringify({ ...OK_BODY, Description: 'd'.repeat(300 * 1024) });
      const before = await quiesce(stack);
      const res = await stack.call('RunCommand', null, { raw, token: null });
      assert.ok(
        res.status === 401 || res.status === 413,
        `${res.status} ${JSON.stringify(res.body)}`,
      );
      assert.deepEqual(await snapshot(stack), before);
    });
  });

  void describe('health', () => {
    void it('GET /healthz is 200', async () => {
      const res = await fetch(`${stack.url}/healthz`);
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { status: 'ok' });
    });

    void it('GET /readyz is 200 while Redis is up', async () => {
      const res = await fetch(`${stack.url}/readyz`);
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { status: 'ready' });
    });
  });

  void describe('no 5xx for any body (property)', () => {
    const ACTIONS = [
      'RunCommand',
      'DescribeInvocations',
      'StopInvocation',
      'DescribeNodes',
    ] as const;
    type ActionName = (typeof ACTIONS)[number];

    const json = fc.jsonValue({ maxDepth: 3 });
    const notString = json.filter((v) => typeof v !== 'string');
    const str = fc.string({ maxLength: 40 });
    /** Mostly a plausible value (so requests get past the first check), sometimes any JSON. */
    const mostly = <T>(plausible: fc.Arbitrary<T>, junk: fc.Arbitrary<unknown> = json) =>
      fc.oneof({ arbitrary: plausible, weight: 4 }, { arbitrary: junk, weight: 1 });
    const flagArb = mostly(fc.constantFrom(true, false, 'true', 'false', 'yes', 1, 0));
    const nodeIdArb = mostly(
      fc.oneof(fc.constantFrom('n1', 'n1', 'n2', 'ghost', 'a b', 'x:y', '{n1}', ''), str),
    );
    const intish = mostly(
      fc.oneof(
        fc.integer({ min: 1, max: 50 }),
        fc.integer({ min: -3, max: 100_000 }),
        fc.double(),
        fc.constantFrom('60', '1', 1e21, -0),
      ),
    );
    const tokenArb = fc.oneof(
      str,
      json.map((v) => b64url(JSON.stringify(v))),
      fc.record({ createdMs: fc.double(), invokeId: str }).map((c) => b64url(JSON.stringify(c))),
      fc.record({ createdMs: fc.integer(), invokeId: str }).map((c) => b64url(JSON.stringify(c))),
      fc.record({ after: str }).map((c) => b64url(JSON.stringify(c))),
      fc.constantFrom(
        b64url('{"createdMs":1e400,"invokeId":"x"}'),
        b64url('{"createdMs":-1e400,"invokeId":"x"}'),
        b64url('{"createdMs":-1,"invokeId":""}'),
        b64url('{"after":""}'),
        'garbage',
        'x'.repeat(513),
      ),
      json,
    );
    // Only contents that are harmless when a request happens to be valid and runs on n1.
    const contentArb = mostly(
      fc.oneof(
        fc.constantFrom('true', ': fuzz', 'dHJ1ZQ==', '', '@@@', 'abc', `: ${'a'.repeat(18_433)}`),
        str.map((s) => `# ${s.replace(/[\r\n]/g, ' ')}`),
      ),
      notString,
    );
    /** `@known:<n>` stands for an existing InvokeId, picked when the request is sent. */
    const invokeIdArb = mostly(
      fc.oneof(
        fc.nat().map((n) => `@known:${n}`),
        fc.constantFrom('t-doesnotexist00000', '', 'x'.repeat(65)),
        str,
      ),
    );
    const runCommandFields = {
      NodeIdList: mostly(
        fc.oneof(
          fc.constantFrom(['n1'], ['n1'], ['n1', 'n1'], ['ghost'], [], ['n1', 'ghost'], 'n1'),
          fc.array(nodeIdArb, { maxLength: 4 }),
        ),
      ),
      CommandContent: contentArb,
      ContentEncoding: mostly(fc.constantFrom('PlainText', 'Base64', 'Hex', 'base64')),
      Name: mostly(str),
      Description: mostly(str),
      Frequency: mostly(fc.constantFrom('', '', '0 * * * * *', 'rate(5m)')),
      RepeatMode: mostly(
        fc.constantFrom('Once', 'Once', 'Period', 'NextRebootOnly', 'EveryReboot', 'once'),
      ),
      Timeout: intish,
      Username: mostly(fc.oneof(fc.constantFrom('', 'nobody', 'bad user', 'no_such_user_x9'), str)),
      WorkingDir: mostly(fc.oneof(fc.constantFrom('', '/tmp', '/nonexistent-dir', 'rel'), str)),
      EnableParameter: flagArb,
      Parameters: mostly(
        fc.dictionary(str, fc.oneof(str, fc.integer(), fc.boolean(), json), { maxKeys: 12 }),
      ),
      TerminationMode: mostly(fc.constantFrom('ProcessTree', 'Process', 'Kill')),
      // Only launchers that run the (harmless) script; anything else is rejected or invalid.
      Launcher: mostly(fc.constantFrom('', '/bin/sh', 'sh', 'x'.repeat(1025)), notString),
      ClientToken: mostly(fc.string({ maxLength: 80 })),
    };
    const fieldsFor: Record<ActionName, Record<string, fc.Arbitrary<unknown>>> = {
      RunCommand: runCommandFields,
      DescribeInvocations: {
        InvokeId: invokeIdArb,
        NodeId: nodeIdArb,
        CommandName: mostly(str),
        InvokeStatus: mostly(
          fc.oneof(fc.constantFrom('Finished', 'Success', 'Running', 'Failed', 'Stopped'), str),
        ),
        RepeatMode: runCommandFields.RepeatMode,
        IncludeOutput: flagArb,
        ContentEncoding: runCommandFields.ContentEncoding,
        MaxResults: intish,
        NextToken: tokenArb,
      },
      StopInvocation: { InvokeId: invokeIdArb, NodeIdList: runCommandFields.NodeIdList },
      DescribeNodes: {
        NodeId: nodeIdArb,
        Online: flagArb,
        MaxResults: intish,
        NextToken: tokenArb,
      },
    };
    const anyOf = fieldsFor;
    /** Requests each action accepts (undefined values vanish in JSON.stringify). */
    const validFor: Record<ActionName, Record<string, fc.Arbitrary<unknown>>> = {
      RunCommand: {
        NodeIdList: fc.constant(['n1']),
        CommandContent: fc.oneof(
          fc.constantFrom('true', ': fuzz'),
          str.map((s) => `# ${s.replace(/[\r\n]/g, ' ')}`),
        ),
        ContentEncoding: fc.constant('PlainText'),
        Name: str,
        Description: str,
        Frequency: fc.constant(''),
        RepeatMode: fc.constant('Once'),
        Timeout: fc.integer({ min: 1, max: 86_400 }),
        Username: fc.constantFrom('', 'nobody', 'no_such_user_x9'),
        WorkingDir: fc.constantFrom('', '/tmp', '/nonexistent-dir'),
        EnableParameter: fc.constantFrom(false, 'false'),
        Parameters: fc.dictionary(str, fc.oneof(str, fc.integer(), fc.boolean()), { maxKeys: 10 }),
        TerminationMode: fc.constantFrom('ProcessTree', 'Process'),
        Launcher: fc.constantFrom('', '/bin/sh', 'sh'),
        ClientToken: fc.string({ maxLength: 64 }),
      },
      DescribeInvocations: {
        InvokeId: fc.nat().map((n) => `@known:${n}`),
        NodeId: fc.constantFrom('n1', 'n2'),
        CommandName: str,
        InvokeStatus: fc.constantFrom('Finished', 'Success', 'Running', 'Failed', 'Stopped'),
        RepeatMode: fc.constant('Once'),
        IncludeOutput: fc.constantFrom(true, false, 'true', 'false'),
        ContentEncoding: fc.constantFrom('PlainText', 'Base64'),
        MaxResults: fc.integer({ min: 1, max: 50 }),
        NextToken: fc.constantFrom(undefined, b64url('{"createdMs":9e15,"invokeId":"z"}')),
      },
      StopInvocation: {
        InvokeId: fc.nat().map((n) => `@known:${n}`),
        NodeIdList: fc.constantFrom(undefined, ['n1']),
      },
      DescribeNodes: {
        NodeId: fc.constantFrom('n1', 'n2'),
        Online: fc.constantFrom(true, false, 'true', 'false'),
        MaxResults: fc.integer({ min: 1, max: 50 }),
        NextToken: fc.constantFrom(undefined, b64url('{"after":""}'), b64url('{"after":"n0"}')),
      },
    };
    const ALL_FIELDS = [...new Set(Object.values(anyOf).flatMap((f) => Object.keys(f)))];
    /** A valid request for `a`, with at most one field replaced, removed or added. */
    const mutatedFor = (a: ActionName) =>
      fc
        .tuple(
          fc.record(validFor[a], {
            requiredKeys: a === 'RunCommand' ? ['NodeIdList', 'CommandContent'] : [],
          }),
          fc.option(
            fc.constantFrom(...ALL_FIELDS, 'Foo').chain((field) =>
              fc.tuple(
                fc.constant(field),
                fc.oneof(
                  anyOf[a][field] ?? json,
                  json,
                  fc.constant(undefined), // removes the field
                ),
              ),
            ),
            { freq: 2 },
          ),
        )
        .map(([body, change]) => (change ? { ...body, [change[0]]: change[1] } : body));
    const recordFor = (a: ActionName) => fc.record(anyOf[a], { requiredKeys: [] });
    const extras = fc.dictionary(
      fc.oneof(str, fc.constantFrom('__proto__', 'constructor', 'prototype', 'Foo')),
      json,
      { minKeys: 1, maxKeys: 2 },
    );

    const actionArb = fc.constantFrom(...ACTIONS);
    const requestArb = fc.oneof(
      // Any JSON value at all.
      fc.tuple(actionArb, json),
      // RunCommand's field names with any JSON values, to every action.
      fc.tuple(
        actionArb,
        fc.dictionary(fc.constantFrom(...Object.keys(runCommandFields)), json, { maxKeys: 6 }),
      ),
      // RunCommand's fields with plausible (often wrong) values, to every action.
      fc.tuple(actionArb, recordFor('RunCommand')),
      // Each action's own fields, plausible values.
      actionArb.chain((a) => fc.tuple(fc.constant(a), recordFor(a))),
      // A valid request with one field changed (weighted: these reach Redis).
      {
        arbitrary: actionArb.chain((a) => fc.tuple(fc.constant(a), mutatedFor(a))),
        weight: 4,
      },
      // ... plus unknown (and prototype-ish) keys.
      actionArb.chain((a) =>
        fc.tuple(
          fc.constant(a),
          fc.tuple(recordFor(a), extras).map(([r, x]) => ({ ...x, ...r })),
        ),
      ),
    );

    /** Replaces an `@known:<n>` InvokeId with a real one. */
    const resolve = (body: unknown, known: readonly string[]): unknown => {
      if (typeof body !== 'object' || body === null || Array.isArray(body)) return body;
      const id = (body as { InvokeId?: unknown }).InvokeId;
      if (typeof id !== 'string' || !id.startsWith('@known:') || known.length === 0) return body;
      const n = Number(id.slice('@known:'.length));
      return { ...body, InvokeId: known[n % known.length] };
    };

    void it('every answer is < 500 with Code, Message and RequestId on errors; rejected requests create nothing', async (t) => {
      const before = await quiesce(stack);
      const known = await stack.redis.zrange(stack.keys.invocationIndex(), 0, -1);
      const accepted: string[] = [];
      const seen = new Map<string, number>();
      await fc.assert(
        fc.asyncProperty(requestArb, async ([action, generated]) => {
          const body = resolve(generated, known);
          const res = await stack.call(action, body);
          const tally = `${action} ${res.status}`;
          seen.set(tally, (seen.get(tally) ?? 0) + 1);
          assert.ok(
            res.status < 500,
            `${action} ${JSON.stringify(body)?.slice(0, 500)} -> ${res.status} ${JSON.stringify(res.body)}`,
          );
          if (res.status >= 400) {
            assert.equal(typeof res.body.Code, 'string', JSON.stringify(res.body));
            assert.equal(typeof res.body.Message, 'string', JSON.stringify(res.body));
            assert.match(String(res.body.RequestId), REQUEST_ID_RE);
          } else {
            assert.equal(res.status, 200);
            assert.match(String(res.body.RequestId), REQUEST_ID_RE);
          }
          if (action === 'RunCommand' && res.status === 200) {
            assert.match(String(res.body.InvokeId), INVOKE_ID_RE);
            accepted.push(res.body.InvokeId as string);
          }
        }),
        { numRuns: 150 },
      );
      t.diagnostic(`statuses seen: ${JSON.stringify([...seen].sort())}`);
      const index = await stack.redis.zrange(stack.keys.invocationIndex(), 0, -1);
      // A repeated ClientToken answers the first InvokeId again: count distinct ids.
      const distinct = new Set(accepted);
      assert.ok(distinct.size > 0, 'some RunCommand requests were accepted');
      assert.equal(index.length, before.indexed + distinct.size, JSON.stringify([...seen]));
      const fresh = new Set(index);
      for (const id of accepted) assert.ok(fresh.has(id), `${id} is indexed`);
      for (const id of distinct) {
        // A schedule or boot invocation (a valid Frequency or RepeatMode) never ends by itself.
        if ((await stack.describe(id)).RepeatMode !== 'Once') {
          assert.equal((await stack.call('StopInvocation', { InvokeId: id })).status, 200);
        }
        await waitFinal(stack, id);
      }
    });
  });
});

void describe('DescribeInvocations paging', () => {
  let stack: Stack;
  const created: string[] = [];

  before(async () => {
    stack = await makeStack();
    await stack.startAgent('n1');
    for (let i = 0; i < 5; i++) {
      created.push(await run(stack, { NodeIdList: ['n1'], CommandContent: 'true' }));
      await sleep(3); // distinct creation milliseconds, so "newest first" is creation order
    }
  });
  after(async () => {
    await stack.close();
  });

  void it('pages of 2, 2, 1 newest first, NextToken on all but the last, no duplicates', async () => {
    assert.equal(await stack.redis.zcard(stack.keys.invocationIndex()), 5);
    const sizes: number[] = [];
    const seen: string[] = [];
    let token: string | undefined;
    for (let page = 0; page < 10; page++) {
      const res = await stack.call('DescribeInvocations', {
        MaxResults: 2,
        ...(token !== undefined ? { NextToken: token } : {}),
      });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      const list = (res.body as DescribeInvocationsAnswer).Invocations.Invocation;
      sizes.push(list.length);
      seen.push(...list.map((i) => i.InvokeId));
      token = res.body.NextToken as string | undefined;
      if (token === undefined) break;
      assert.equal(typeof token, 'string');
      assert.ok(token.length > 0);
    }
    assert.deepEqual(sizes, [2, 2, 1]);
    assert.equal(new Set(seen).size, seen.length, 'no duplicates');
    assert.deepEqual(seen, [...created].reverse());
  });

  void it('the whole list in one page has no NextToken', async () => {
    const res = await stack.call('DescribeInvocations', { MaxResults: 5 });
    assert.equal(res.status, 200);
    assert.equal(res.body.NextToken, undefined);
    const list = (res.body as DescribeInvocationsAnswer).Invocations.Invocation;
    assert.deepEqual(
      list.map((i) => i.InvokeId),
      [...created].reverse(),
    );
  });

  void it('an invalid NextToken is 400 InvalidParameter naming NextToken', async () => {
    for (const NextToken of ['garbage', b64url('{"after":"n1"}'), b64url('[1,2]')]) {
      const res = await stack.call('DescribeInvocations', { MaxResults: 2, NextToken });
      assertErrorBody(res, 400, 'InvalidParameter');
      assert.match(res.body.Message as string, /NextToken/);
    }
  });
});

/** /readyz of a stack, as status and body. */
async function readyz(s: Stack): Promise<ApiResponse> {
  const res = await fetch(`${s.url}/readyz`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

void describe('Redis unavailable', () => {
  // Each test has its own Redis and stack, so each runs alone (--test-name-pattern) the same
  // as in the file: none relies on what an earlier one stopped or closed.
  let privateRedis: PrivateRedis;
  let down: Stack;
  let closed: boolean;

  beforeEach(async () => {
    privateRedis = await startPrivateRedis();
    // This stack's server uses its own Redis; it needs no agent.
    down = await makeStack({ REDIS_URL: privateRedis.url });
    closed = false;
  });
  afterEach(async () => {
    if (!closed) await hangBound('the stack to close', down.close());
    await privateRedis.stop();
  });

  /** Stops the stack's Redis and waits until the server reports it not ready. */
  async function stopRedis(): Promise<void> {
    await privateRedis.stop();
    await down.waitFor(
      '/readyz to report Redis down',
      async () => (await readyz(down)).status === 503,
      HANG_MS,
    );
  }

  void it('the stack serves from its own Redis while it is up', async () => {
    assert.deepEqual(down.config.redis, { kind: 'url', url: privateRedis.url });
    assert.deepEqual(down.redisTarget, { kind: 'url', url: privateRedis.url });
    assert.equal((await readyz(down)).status, 200);
    const res = await down.call('DescribeInvocations', {});
    assert.equal(res.status, 200, JSON.stringify(res.body));
  });

  void it('answers 503 ServiceUnavailable, never hangs', async () => {
    await stopRedis();
    // How soon is a benchmark's question (bench: api-503-redis-down), not this test's.
    const answers = async (what: string, fn: () => Promise<ApiResponse>) => {
      assertErrorBody(await hangBound(what, fn()), 503, 'ServiceUnavailable');
    };
    for (let round = 0; round < 2; round++) {
      await answers('RunCommand', () => down.call('RunCommand', OK_BODY));
      await answers('DescribeInvocations', () => down.call('DescribeInvocations', {}));
      await answers('DescribeNodes', () => down.call('DescribeNodes', {}));
      await answers('StopInvocation', () =>
        down.call('StopInvocation', { InvokeId: 't-doesnotexist00000' }),
      );
      await answers('GET /readyz', () => readyz(down));
      await sleep(1_000); // and again while the clients are between reconnect attempts
    }
  });

  void it('validation still answers 400 without Redis', async () => {
    await stopRedis();
    const res = await hangBound(
      'RunCommand',
      down.call('RunCommand', { NodeIdList: [], CommandContent: 'true' }),
    );
    assertErrorBody(res, 400, 'InvalidParameter');
    assert.match(res.body.Message as string, /NodeIdList/);
  });

  void it('closes while Redis is down, never hangs', async () => {
    await stopRedis();
    // How soon is a benchmark's question (bench: close-redis-down), not this test's.
    await hangBound('the stack to close', down.close());
    closed = true;
  });

  void it('once closed, none of its Redis clients keeps reconnecting', async () => {
    await stopRedis();
    // A client left open, made as the server makes its own: it reconnects as they would.
    const control = makeRedis(privateRedis.url, 'producer', 'control');
    await hangBound('the stack to close', down.close());
    closed = true;
    // A Redis on the old port again: a client the server failed to release would come back.
    const dir = await mkdtemp(join(tmpdir(), 'fleetcmd-redis-again-'));
    const again = spawn(
      'redis-server',
      ['--port', String(privateRedis.port), '--bind', '127.0.0.1', '--save', '', '--dir', dir],
      { stdio: 'ignore' },
    );
    const probe = new Redis(privateRedis.url, {
      maxRetriesPerRequest: 1,
      retryStrategy: () => 50,
    });
    probe.on('error', () => undefined);
    try {
      await down.waitFor(
        'Redis on the old port',
        async () => {
          try {
            return (await probe.ping()) === 'PONG';
          } catch {
            return false;
          }
        },
        HANG_MS,
      );
      const mine = String(await probe.client('ID'));
      const others = async () =>
        String(await probe.client('LIST'))
          .split('\n')
          .filter((l) => l.trim() !== '' && !l.startsWith(`id=${mine} `));
      const isControl = (l: string) => / name=control /.test(l);
      // The control's return shows that a client left open does come back, and when.
      await down.waitFor(
        'the control client to reconnect',
        async () => (await others()).some(isControl),
        HANG_MS,
      );
      // The server's clients back off as the control does, by at most the same longest step:
      // a step after the control is back, any of theirs would be back too (twice, for slack).
      await sleep(MAX_RETRY_STEP_MS * 2);
      const list = (await others()).filter((l) => !isControl(l));
      assert.deepEqual(list, [], 'clients of the closed server reconnected');
    } finally {
      control.disconnect();
      probe.disconnect();
      again.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    }
  });
});

// Safety net: if a closed server leaked a reconnecting Redis client (see the last test above),
// this file's process would never exit and the test run would hang. The timer is unref'd, so it
// changes nothing when the process is free to exit by itself.
after(() => {
  setTimeout(() => process.exit(), 5_000).unref();
});
