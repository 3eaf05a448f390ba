/**
 * An agent on a Redis Cluster whose credentials Redis refuses stops, naming why, as on one
 * Redis: at start (a deregistered node's state file) and while it runs (its user removed). One
 * Redis fails the pending commands with WRONGPASS; a cluster client keeps them queued and
 * retries its slot map forever, so the agent used to wait for good, saying nothing.
 *
 * The server and the CLI's Redis commands likewise, on a cluster and on one Redis: a refused
 * start stops naming the refusal and the user; a running server whose credentials become
 * refused keeps running, logs the refusal as an error and is not ready until it is accepted.
 *
 * Runs in both modes: it starts a local 3-master cluster and a redis-server of its own.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { targetEnv } from '../../src/shared/redis-target.js';
import { startPrivateRedis, type PrivateRedis } from '../../src/dev/private-redis.js';
import type { RedisClient } from '../../src/store/redis.js';
import { freshPrefix, onEachServer, useLocalCluster } from '../helpers/redis.js';
import { HANG_MS, hangBound, startedUrl } from '../helpers/hang.js';
import { runCli, spawnCli, waitFor, type CliResult } from '../helpers/stack.js';
import { Keys } from '../../src/store/keys.js';

const REFUSED = /Redis refused node \S+ credentials \(WRONGPASS[^)]*\): the node was deregistered/;

void describe('an agent on a cluster whose credentials are refused', () => {
  const local = useLocalCluster();
  const prefix = freshPrefix();
  const adminEnv = () => ({ ...targetEnv(local.cluster().target), FLEETCMD_PREFIX: prefix });

  void it('stops at start, naming the refusal', async () => {
    const r = await hangBound(
      'the refused agent',
      runCli(['agent', '--node-id', 'gone'], {
        ...adminEnv(),
        REDIS_USERNAME: 'fc-gone',
        REDIS_PASSWORD: 'not-its-password',
      }),
    );
    assert.notEqual(r.code, 0);
    assert.match(r.stdout + r.stderr, REFUSED);
  });

  void it('stops while it runs once its user is removed from every master', async () => {
    const added = await runCli(['node', 'add', 'cc1', '--json'], adminEnv());
    assert.equal(added.code, 0, added.stderr);
    const { settings } = JSON.parse(added.stdout) as { settings: Record<string, string> };
    let log = '';
    const agent = spawnCli(['agent'], { ...settings, LOG_LEVEL: 'info' }, (c) => (log += c));
    agent.child.stderr?.on('data', (d: Buffer) => (log += d.toString()));
    try {
      await waitFor(
        'the agent to start',
        async () => {
          if (agent.child.exitCode !== null) throw new Error(`agent exited: ${log}`);
          return log.includes('"agent started"');
        },
        HANG_MS,
      );
      // As a crashed `node remove` would leave it: the user gone, no word on the channel.
      const user = new Keys(prefix).nodeAclUser('cc1');
      await onEachServer(local.admin(), (r) => r.call('ACL', 'DELUSER', user));
      const done = await hangBound('the agent to stop', agent.done);
      assert.equal(done.code, 78, log);
      assert.match(log, REFUSED);
    } finally {
      agent.child.kill('SIGKILL');
    }
  });
});

/** Where the server and CLI cases run: an admin client, and the settings logging in as a user. */
interface Where {
  admin: () => RedisClient;
  login: (user: string, password: string) => Record<string, string>;
}

const OPS_USER = 'fc-ops';
const OPS_PASSWORD = 'the-right-password';
const refusedAs = (user: string, code: string) =>
  new RegExp(`Redis refused the credentials of user "${user}" \\(${code}[^)\n]*\\): check `);

/** The user the server logs in as, on every server of the target (ACL users are per server). */
async function setOpsUser(admin: RedisClient): Promise<void> {
  await onEachServer(admin, (r) =>
    r.call('ACL', 'SETUSER', OPS_USER, 'reset', 'on', `>${OPS_PASSWORD}`, '~*', '&*', '+@all'),
  );
}

function refusedServerAndCli(where: Where): void {
  const prefix = freshPrefix();
  const serverEnv = (login: Record<string, string>) => ({
    ...login,
    FLEETCMD_PREFIX: prefix,
    FLEETCMD_API_TOKEN: 't'.repeat(40),
    PORT: '0',
    FLEETCMD_HOST: '127.0.0.1',
    LOG_LEVEL: 'info',
  });
  before(async () => setOpsUser(where.admin()));

  void it('the server stops at start, naming the refusal and the user', async () => {
    const r = await bounded(
      'the refused server',
      spawnCli(['server'], serverEnv(where.login(OPS_USER, 'not-its-password'))),
    );
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stderr, refusedAs(OPS_USER, 'WRONGPASS'));
    assert.doesNotMatch(r.stdout, /"server started"/);
  });

  void it('a CLI Redis command exits non-zero, naming the refusal and the user', async () => {
    const r = await bounded(
      'the refused node add',
      spawnCli(['node', 'add', 'rf1'], {
        ...where.login('fc-nobody', 'not-its-password'),
        FLEETCMD_PREFIX: prefix,
      }),
    );
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stderr, refusedAs('fc-nobody', 'WRONGPASS'));
  });

  void it('a running server whose user is removed stays up, not ready, until it is back', async () => {
    let log = '';
    const server = spawnCli(
      ['server'],
      serverEnv(where.login(OPS_USER, OPS_PASSWORD)),
      (c) => (log += c),
    );
    server.child.stderr?.on('data', (d: Buffer) => (log += d.toString()));
    const readyz = async (url: string) => {
      const res = await fetch(`${url}/readyz`);
      return { status: res.status, body: (await res.json()) as { Message?: string } };
    };
    try {
      const url = await waitFor(
        'the server to start',
        async () => {
          if (server.child.exitCode !== null) throw new Error(`server exited: ${log}`);
          return startedUrl(log);
        },
        HANG_MS,
      );
      assert.equal((await readyz(url)).status, 200);
      // Removing the user closes its connections: each reconnect is refused.
      await onEachServer(where.admin(), (r) => r.call('ACL', 'DELUSER', OPS_USER));
      const refused = await waitFor(
        '/readyz to name the refusal',
        async () => {
          const r = await readyz(url);
          return r.status === 503 && r.body.Message?.includes('Redis refused') ? r : undefined;
        },
        HANG_MS,
      );
      // /readyz needs no token: Redis's refusal, not the user (the error line names it).
      assert.match(
        refused.body.Message ?? '',
        /Redis refused the server's credentials \(WRONGPASS/,
      );
      assert.ok(!(refused.body.Message ?? '').includes(OPS_USER), refused.body.Message);
      await waitFor('the refusal logged as an error', async () => errorLogged(log), HANG_MS);
      // An operator puts the user back (a rotation done): ready again, never having exited.
      await setOpsUser(where.admin());
      await waitFor('/readyz ready again', async () => (await readyz(url)).status === 200, HANG_MS);
      assert.equal(server.child.exitCode, null, log);
    } finally {
      server.child.kill('SIGKILL');
    }
  });
}

/** The process's result, hang-bound; killed if it hangs, so the file's process can end. */
async function bounded(what: string, p: ReturnType<typeof spawnCli>): Promise<CliResult> {
  try {
    return await hangBound(what, p.done);
  } finally {
    p.child.kill('SIGKILL');
  }
}

/** Whether the server's log holds the refusal as an error line (pino level 50). */
function errorLogged(log: string): boolean {
  return log.split('\n').some((line) => {
    if (!line.includes('Redis refused')) return false;
    try {
      const entry = JSON.parse(line) as { level?: number; msg?: string };
      return entry.level === 50 && refusedAs(OPS_USER, 'WRONGPASS').test(entry.msg ?? '');
    } catch {
      return false;
    }
  });
}

void describe('a server and the CLI on a cluster whose credentials are refused', () => {
  const local = useLocalCluster();
  refusedServerAndCli({
    admin: () => local.admin(),
    login: (user, password) => ({
      ...targetEnv(local.cluster().target),
      REDIS_USERNAME: user,
      REDIS_PASSWORD: password,
    }),
  });
});

void describe('a server and the CLI on one Redis whose credentials are refused', () => {
  let redis: PrivateRedis | undefined;
  let admin: Redis | undefined;
  const started = <T>(v: T | undefined): T => {
    if (v === undefined) throw new Error('read in a hook or a test');
    return v;
  };
  before(async () => {
    redis = await startPrivateRedis();
    admin = new Redis(redis.url, { maxRetriesPerRequest: 2 });
  });
  after(async () => {
    admin?.disconnect();
    await redis?.stop();
  });
  refusedServerAndCli({
    admin: () => started(admin),
    login: (user, password) => ({
      REDIS_URL: `redis://${user}:${password}@127.0.0.1:${started(redis).port}`,
    }),
  });
});
