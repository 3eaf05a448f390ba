import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readFile, readdir, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Redis } from 'ioredis';
import { after, before, describe, it } from 'node:test';
import { findOnPath } from '../../src/shared/on-path.js';
import { Keys } from '../../src/store/keys.js';
import { idsOf, userAdmin } from '../helpers/local-user.js';
import { CLI, ROOT } from '../helpers/stack.js';

/**
 * `fleetcmd dev` as a hostile local user meets it: its redis-server must refuse anyone without
 * the password it printed, and its agents must not hold the API's secrets in their environment.
 */
const IS_ROOT = process.getuid?.() === 0;
const HAS_REDIS = (await findOnPath('redis-server')) !== undefined;
const SKIP = !IS_ROOT
  ? 'needs root: the test makes a second local user with useradd'
  : !HAS_REDIS
    ? 'needs redis-server on PATH: fleetcmd dev starts its own'
    : false;

// The secrets dev is started with; none may reach an agent.
const API_TOKEN = `dev-token-${randomBytes(12).toString('hex')}`;
const LISTED_TOKEN = `listed-${randomBytes(12).toString('hex')}`;
const ACCESS_SECRET = `secret-${randomBytes(12).toString('hex')}`;
const SECRET_ENV = {
  FLEETCMD_API_TOKEN: API_TOKEN,
  FLEETCMD_API_TOKENS: `reader:read:${LISTED_TOKEN}`,
  FLEETCMD_ACCESS_KEYS: `DEVTESTKEY:${ACCESS_SECRET}`,
};

/** Runs a command to its end; its exit code and what it wrote. */
async function run(
  cmd: string,
  args: string[],
  opts: { uid?: number; gid?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<{ code: number | null; out: string }> {
  const child = spawn(cmd, args, {
    cwd: ROOT,
    env: opts.env ?? { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(opts.uid !== undefined ? { uid: opts.uid, gid: opts.gid } : {}),
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, out };
}

/** The direct children of a process, from /proc/<pid>/task/<tid>/children. */
async function childrenOf(pid: number): Promise<number[]> {
  const out: number[] = [];
  for (const tid of await readdir(`/proc/${pid}/task`)) {
    const text = await readFile(`/proc/${pid}/task/${tid}/children`, 'utf8').catch(() => '');
    out.push(...text.split(/\s+/).filter(Boolean).map(Number));
  }
  return out;
}

async function cmdline(pid: number): Promise<string[]> {
  return (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').filter(Boolean);
}

async function environ(pid: number): Promise<Map<string, string>> {
  const entries = (await readFile(`/proc/${pid}/environ`, 'utf8')).split('\0').filter(Boolean);
  return new Map(entries.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
}

void describe('fleetcmd dev against a hostile local user', { skip: SKIP }, () => {
  const user = `fcdev${randomBytes(4).toString('hex')}`;
  let ids: { uid: number; gid: number };
  let dev: ChildProcess;
  let banner = '';
  let apiUrl = '';
  let redisUrl = '';

  before(async () => {
    userAdmin('useradd', ['--no-create-home', '--shell', '/usr/sbin/nologin', user]);
    ids = idsOf(user);
    const env: NodeJS.ProcessEnv = { ...process.env, ...SECRET_ENV };
    delete env.REDIS_URL;
    delete env.FLEETCMD_PREFIX;
    // The real CLI, as `npm start` runs it (through tsx: the tests do not build).
    dev = spawn(process.execPath, ['--import', 'tsx', CLI, 'dev', '--port', '0'], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    dev.stdout?.on('data', (d: Buffer) => (banner += d.toString()));
    dev.stderr?.on('data', (d: Buffer) => (banner += d.toString()));
    const up = new Promise<void>((resolve, reject) => {
      const check = () => banner.includes('Ctrl-C stops everything') && resolve();
      dev.stdout?.on('data', check);
      dev.once('exit', () => reject(new Error(`dev exited at start-up:\n${banner}`)));
    });
    // A hang bound only: start-up takes a few seconds.
    await Promise.race([
      up,
      new Promise((_, reject) =>
        setTimeout(() => reject(new Error(`dev did not come up:\n${banner}`)), 120_000).unref(),
      ),
    ]);
    apiUrl = /API:\s+(\S+)/.exec(banner)?.[1] ?? '';
    redisUrl = /redis:\s+(\S+)/.exec(banner)?.[1] ?? '';
    assert.ok(apiUrl && redisUrl, banner);
  });

  after(async () => {
    if (dev && dev.exitCode === null && dev.signalCode === null) {
      const exited = once(dev, 'exit');
      dev.kill('SIGINT');
      await exited;
    }
    userAdmin('userdel', [user]);
  });

  void it('refuses the other user without the password (redis-cli and fleetcmd key add)', async () => {
    const { port } = new URL(redisUrl);
    const key = await run(
      process.execPath,
      ['--import', 'tsx', CLI, 'key', 'add', '--json', '--redis-url', `redis://127.0.0.1:${port}`],
      { ...ids, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/' } },
    );
    assert.notEqual(key.code, 0, `key add as ${user} must fail: ${key.out}`);
    assert.doesNotMatch(key.out, /AccessKeySecret/);
    // Says why: the password is missing, not that Redis is away.
    assert.match(key.out, /NOAUTH/, key.out);
    const guessed = `redis://:guessed-password@127.0.0.1:${port}`;
    const wrong = await run(process.execPath, ['--import', 'tsx', CLI, 'key', 'list'], {
      ...ids,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/', REDIS_URL: guessed },
    });
    assert.notEqual(wrong.code, 0, wrong.out);
    assert.match(wrong.out, /WRONGPASS/, wrong.out);
    assert.ok(!wrong.out.includes('guessed-password'), `the password echoed: ${wrong.out}`);
    for (const cmd of [['ACL', 'WHOAMI'], ['SET', 'fc-dev-test-intruder', '1'], ['PING']]) {
      const r = await run('redis-cli', ['-h', '127.0.0.1', '-p', port, ...cmd], ids);
      assert.match(r.out, /NOAUTH|WRONGPASS/, `${cmd.join(' ')} as ${user}: ${r.out}`);
    }
    const cliGuess = await run(
      'redis-cli',
      ['-h', '127.0.0.1', '-p', port, '-a', 'guess', 'PING'],
      {
        ...ids,
      },
    );
    assert.match(cliGuess.out, /WRONGPASS|invalid password/i, cliGuess.out);
  });

  void it('keeps the password off every command line and in a file only its owner reads', async () => {
    const password = decodeURIComponent(new URL(redisUrl).password);
    assert.ok(password.length >= 32, `a generated password in the printed URL: ${redisUrl}`);
    const redisPid = (
      await Promise.all(
        (await childrenOf(dev.pid ?? 0)).map(async (p) => ({ p, argv: await cmdline(p) })),
      )
    ).find((c) => c.argv[0]?.includes('redis-server'))?.p;
    assert.ok(redisPid, 'dev started a redis-server child');
    for (const pid of [redisPid, dev.pid ?? 0, ...(await childrenOf(dev.pid ?? 0))]) {
      const argv = (await cmdline(pid)).join(' ');
      assert.ok(!argv.includes(password), `the password on the command line of ${pid}: ${argv}`);
    }
    // The one copy on disk: the server's config file, 0600 in a 0700 directory of dev's user.
    const admin = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
    const info = await admin.info('server').finally(() => admin.disconnect());
    const file = /^config_file:(.+)$/m.exec(info)?.[1]?.trim() ?? '';
    assert.ok(file, `redis-server reads a config file: ${info}`);
    const [f, d] = [await stat(file), await stat(dirname(file))];
    assert.equal(f.mode & 0o777, 0o600, file);
    assert.equal(d.mode & 0o777, 0o700, dirname(file));
    assert.equal(f.uid, process.getuid?.());
    assert.equal(d.uid, process.getuid?.());
    assert.ok((await readFile(file, 'utf8')).includes(password));
    // The operator's way in: REDIS_URL=<the printed redis> fleetcmd key add.
    const key = await run(process.execPath, ['--import', 'tsx', CLI, 'key', 'add', '--json'], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', REDIS_URL: redisUrl },
    });
    assert.equal(key.code, 0, key.out);
    assert.match(key.out, /"AccessKeySecret"/);
  });

  void it("gives the agents none of the API's secrets nor the admin Redis password", async () => {
    const password = decodeURIComponent(new URL(redisUrl).password);
    const agents: number[] = [];
    for (const pid of await childrenOf(dev.pid ?? 0)) {
      if ((await cmdline(pid)).includes('agent')) agents.push(pid);
    }
    assert.equal(agents.length, 2, 'two agents');
    for (const pid of agents) {
      const env = await environ(pid);
      for (const name of Object.keys(SECRET_ENV)) {
        assert.equal(env.get(name), undefined, `${name} in /proc/${pid}/environ`);
      }
      const all = [...env.values()].join('\n');
      for (const secret of [API_TOKEN, LISTED_TOKEN, ACCESS_SECRET]) {
        assert.ok(!all.includes(secret), `a secret in /proc/${pid}/environ`);
      }
      if (password) assert.ok(!all.includes(password), `the admin password in ${pid}'s env`);
      assert.equal(env.get('REDIS_URL'), undefined, 'no Redis URL handed over');
    }
  });

  void it('enrolls its agents with an activation: each logs in as its own node user', async () => {
    const keys = new Keys('fc');
    const admin = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
    try {
      const activationIds = new Set<string>();
      const codes = new Set<string>();
      for (const pid of await childrenOf(dev.pid ?? 0)) {
        const argv = await cmdline(pid);
        if (!argv.includes('agent')) continue;
        assert.ok(argv.includes('--register'), argv.join(' '));
        activationIds.add(argv[argv.indexOf('--activation-id') + 1] ?? '');
        // The code is in the agent's environment (its user's only), never on a command line.
        const code = (await environ(pid)).get('FLEETCMD_ACTIVATION_CODE') ?? '';
        assert.ok(code.length >= 43, 'the activation code in the environment');
        codes.add(code);
        for (const other of [dev.pid ?? 0, ...(await childrenOf(dev.pid ?? 0))]) {
          assert.ok(!(await cmdline(other)).join(' ').includes(code), `code on ${other}'s argv`);
        }
      }
      assert.equal(activationIds.size, 1, 'one activation for the agents');
      const [activationId] = [...activationIds] as [string];
      const activation = await admin.hgetall(keys.activation(activationId));
      assert.equal(activation.registeredCount, '2', JSON.stringify(activation));
      assert.equal(codes.size, 1);
      const [code] = [...codes] as [string];
      assert.equal(activation.codeSha256, createHash('sha256').update(code).digest('hex'));
      // Each node's agent is connected as that node's ACL user (RegisterNode made it).
      const clients = String(await admin.call('CLIENT', 'LIST'));
      for (const n of ['n1', 'n2']) {
        assert.ok(clients.includes(` user=${keys.nodeAclUser(n)} `), `${n}'s user connected`);
        assert.equal(await admin.hget(keys.nodeEnrollment(n), 'activationId'), activationId);
      }
    } finally {
      admin.disconnect();
    }
  });

  void it('still runs commands on n1 and n2', async () => {
    const call = async (action: string, body: unknown) => {
      const res = await fetch(`${apiUrl}/v1/${action}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      assert.equal(res.status, 200, action);
      return (await res.json()) as Record<string, unknown>;
    };
    const { InvokeId } = (await call('RunCommand', {
      NodeIdList: ['n1', 'n2'],
      CommandContent: 'echo ok',
    })) as { InvokeId: string };
    let status = '';
    // Polls until final; the bound only stops a hang.
    for (let i = 0; i < 600 && !['Success', 'Failed', 'Error'].includes(status); i++) {
      const d = (await call('DescribeInvocations', { InvokeId })) as {
        Invocations: { Invocation: { InvocationStatus: string }[] };
      };
      status = d.Invocations.Invocation[0]?.InvocationStatus ?? '';
      if (status !== 'Success') await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(status, 'Success');
  });
});
