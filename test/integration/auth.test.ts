/**
 * API tokens against real server processes on loopback: roles (read calls Describe* only, 403
 * otherwise), wrong or missing tokens (401), no token or header ever in the debug log, and a
 * per-token rate limit shared by two replicas through Redis (429 with Retry-After).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { Keys } from '../../src/store/keys.js';
import { targetEnv } from '../../src/shared/redis-target.js';
import type { RedisClient } from '../../src/store/redis.js';
import { clientOf, freshPrefix, keysUnder, redisTarget } from '../helpers/redis.js';
import { CLI, waitFor } from '../helpers/stack.js';
import { startedUrl } from '../helpers/hang.js';

interface Server {
  url: string;
  child: ChildProcess;
  log: () => string;
}

/** A `fleetcmd server` process; stopped by `stopServer` (or the test file's end). */
async function startServer(env: Record<string, string>): Promise<Server> {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'server'], {
    env: { ...process.env, ...env, PORT: '0', FLEETCMD_HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  process.once('exit', () => child.kill('SIGKILL'));
  let log = '';
  child.stdout?.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (log += d.toString()));
  const url = await waitFor(
    'the server to start',
    async () => {
      if (child.exitCode !== null) throw new Error(`server exited: ${log}`);
      return startedUrl(log);
    },
    60_000,
  );
  return { url, child, log: () => log };
}

async function stopServer(s: Server): Promise<void> {
  if (s.child.exitCode !== null || s.child.signalCode !== null) return;
  const gone = once(s.child, 'exit');
  s.child.kill('SIGTERM');
  await gone;
}

interface Answer {
  status: number;
  body: Record<string, unknown>;
  headers: Headers;
}

async function call(
  server: Server,
  action: string,
  body: unknown,
  authorization?: string,
): Promise<Answer> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (authorization !== undefined) headers.authorization = authorization;
  const res = await fetch(`${server.url}/v1/${action}`, {
    method: 'POST',
    headers,
    body: JSON.stringify(body),
  });
  return {
    status: res.status,
    body: (await res.json()) as Record<string, unknown>,
    headers: res.headers,
  };
}

const token = () => randomBytes(24).toString('base64url');

void describe('API tokens and roles', () => {
  const defaultToken = token();
  const readToken = token();
  const runToken = token();
  let server: Server;

  before(async () => {
    server = await startServer({
      ...targetEnv(await redisTarget()),
      FLEETCMD_PREFIX: freshPrefix(),
      LOG_LEVEL: 'debug',
      FLEETCMD_API_TOKEN: defaultToken,
      FLEETCMD_API_TOKENS: `reader:read:${readToken}, runner:run:${runToken}`,
    });
  });
  after(async () => {
    await stopServer(server);
  });

  const bearer = (t: string) => `Bearer ${t}`;
  // A RunCommand on a node that never registered: 400 once authorised, and changes nothing.
  const runGhost = { NodeIdList: ['ghost'], CommandContent: 'echo hi' };

  void it('FLEETCMD_API_TOKEN and run tokens may call every action', async () => {
    for (const t of [defaultToken, runToken]) {
      const r = await call(server, 'RunCommand', runGhost, bearer(t));
      assert.equal(r.status, 400, JSON.stringify(r.body));
      assert.equal(r.body.Code, 'InvalidNodeId.NotFound');
      assert.equal((await call(server, 'DescribeNodes', {}, bearer(t))).status, 200);
    }
  });

  void it('read tokens call Describe* actions only; the rest answers 403 Forbidden.Role', async () => {
    for (const action of [
      'DescribeInvocations',
      'DescribeInvocationResults',
      'DescribeNodes',
      'DescribeCommands',
      'DescribeSendFileResults',
    ]) {
      const r = await call(server, action, {}, bearer(readToken));
      assert.equal(r.status, 200, `${action}: ${JSON.stringify(r.body)}`);
    }
    for (const [action, body] of [
      ['RunCommand', runGhost],
      ['StopInvocation', { InvokeId: 't-none' }],
      ['CreateCommand', { Name: 'x', CommandContent: 'echo' }],
      ['SendFile', { NodeIdList: ['ghost'], Name: 'f', TargetDir: '/tmp', Content: 'x' }],
    ] as const) {
      const r = await call(server, action, body, bearer(readToken));
      assert.equal(r.status, 403, `${action}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.Code, 'Forbidden.Role');
      assert.equal(typeof r.body.RequestId, 'string');
      assert.match(String(r.body.Message), /"reader" has the role read/);
    }
  });

  void it('a missing, wrong or partial token answers 401 InvalidToken', async () => {
    for (const authorization of [
      undefined,
      'Bearer ',
      bearer('nope'),
      bearer(readToken.slice(0, -1)),
      bearer(`${runToken}x`),
      `bearer ${defaultToken}`,
      defaultToken,
    ]) {
      const r = await call(server, 'DescribeNodes', {}, authorization);
      assert.equal(r.status, 401, String(authorization));
      assert.equal(r.body.Code, 'InvalidToken');
    }
    const docs = await fetch(`${server.url}/docs`);
    assert.equal(docs.status, 200, 'the docs need no token');
  });

  void it('no token or Authorization header appears in the debug log', async () => {
    const log = server.log();
    // The requests above were logged at debug, by token name.
    assert.match(log, /"tokenName":"reader"/);
    assert.match(log, /"tokenName":"default"/);
    assert.match(log, /request without a valid token refused/);
    for (const t of [defaultToken, readToken, runToken]) {
      assert.ok(!log.includes(t), 'a token is in the log');
      assert.ok(!log.includes(t.slice(0, 12)), 'part of a token is in the log');
    }
    assert.ok(!/bearer/i.test(log), 'an Authorization header is in the log');
    assert.ok(!/authorization/i.test(log), 'an Authorization header is in the log');
  });
});

void describe('per-token rate limit', () => {
  const readToken = token();
  const runToken = token();
  const prefix = freshPrefix();
  const LIMIT = 6;
  let replicas: Server[];
  let redis: RedisClient;

  before(async () => {
    const env = {
      ...targetEnv(await redisTarget()),
      FLEETCMD_PREFIX: prefix,
      LOG_LEVEL: 'info',
      FLEETCMD_API_TOKENS: `reader:read:${readToken} runner:run:${runToken}`,
      FLEETCMD_RATE_LIMIT: String(LIMIT),
      FLEETCMD_RATE_LIMIT_WINDOW_SECONDS: '60',
    };
    replicas = await Promise.all([startServer(env), startServer(env)]);
    redis = clientOf(await redisTarget());
  });
  after(async () => {
    await Promise.all(replicas.map(stopServer));
    redis.disconnect();
  });

  void it('answers 429 Throttling with Retry-After once a token used its requests on any replica', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < LIMIT; i++) {
      const r = await call(replicas[i % 2] as Server, 'DescribeNodes', {}, `Bearer ${readToken}`);
      statuses.push(r.status);
    }
    assert.deepEqual(statuses, Array<number>(LIMIT).fill(200));
    for (const replica of replicas) {
      const r = await call(replica, 'DescribeNodes', {}, `Bearer ${readToken}`);
      assert.equal(r.status, 429, JSON.stringify(r.body));
      assert.equal(r.body.Code, 'Throttling');
      assert.equal(typeof r.body.RequestId, 'string');
      assert.match(String(r.body.Message), /at most 6 per 60 s/);
      const retryAfter = Number(r.headers.get('retry-after'));
      assert.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After ${retryAfter}`);
    }
    // Another token has its own budget.
    const other = await call(replicas[0] as Server, 'DescribeNodes', {}, `Bearer ${runToken}`);
    assert.equal(other.status, 200);

    // Counted by token name in Redis, never by the token.
    const counters = await keysUnder(redis, new Keys(prefix).rateLimitNamespace().slice(0, -1));
    assert.ok(
      counters.some((k) => k.endsWith(':t:reader')),
      counters.join(' '),
    );
    for (const k of counters) {
      assert.ok(!k.includes(readToken) && !k.includes(runToken), `a token in key ${k}`);
    }
  });

  void it('callers without a valid token are limited by address', async () => {
    const statuses: number[] = [];
    for (let i = 0; i <= LIMIT; i++) {
      statuses.push(
        (await call(replicas[0] as Server, 'DescribeNodes', {}, 'Bearer wrong')).status,
      );
    }
    assert.deepEqual(statuses, [...Array<number>(LIMIT).fill(401), 429]);
  });
});
