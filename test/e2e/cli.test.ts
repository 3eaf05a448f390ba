import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { freePort } from '../../src/private-redis.js';
import { CLI, ROOT, makeStack, type Stack } from '../helpers/stack.js';

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

async function cli(args: string[], env: Record<string, string | undefined>): Promise<Result> {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stdout, stderr };
}

void describe('the fleetcmd CLI against a real stack', () => {
  let stack: Stack;
  let env: Record<string, string>;

  before(async () => {
    stack = await makeStack();
    await stack.startAgent('n1');
    await stack.startAgent('n2');
    env = { FLEETCMD_URL: stack.url, FLEETCMD_API_TOKEN: stack.token };
  });
  after(() => stack.close());

  void it('run --wait prints each node output and exits 0 on Success', async () => {
    const r = await cli(
      ['run', '--nodes', 'n1,n2', '--wait', '--', 'echo hi from $(hostname)'],
      env,
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /--- n1: Success exit 0/);
    assert.match(r.stdout, /--- n2: Success exit 0/);
    assert.equal(r.stdout.match(/hi from /g)?.length, 2);
    assert.match(r.stdout, /t-[a-z0-9]{17}: Success/);
  });

  void it('run --wait exits non-zero when the invocation does not end Success', async () => {
    const r = await cli(['run', '--nodes', 'n1', '--wait', '--', 'echo oops; exit 4'], env);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /--- n1: Failed exit 4 \(the command execution exit code is not zero\)/);
    assert.match(r.stdout, /oops/);
  });

  void it('run prints the InvokeId; describe shows a table; stop stops it', async () => {
    const r = await cli(['run', '--nodes', 'n1', '--', 'sleep 60'], env);
    assert.equal(r.code, 0, r.stderr);
    const id = r.stdout.trim();
    assert.match(id, /^t-[a-z0-9]{17}$/);
    await stack.waitFor('running', async () => {
      const d = await cli(['describe', id], env);
      return /n1\s+Running/.test(d.stdout);
    });
    const s = await cli(['stop', id], env);
    assert.equal(s.code, 0, s.stderr);
    await stack.waitFor('terminated', async () =>
      /n1\s+Terminated\s+137/.test((await cli(['describe', id], env)).stdout),
    );
    const j = await cli(['describe', id, '--json'], env);
    assert.equal(
      (JSON.parse(j.stdout) as { InvocationStatus: string }).InvocationStatus,
      'Stopped',
    );
  });

  void it('nodes lists the registered agents', async () => {
    const r = await cli(['nodes'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^NODE\s+ONLINE/m);
    assert.match(r.stdout, /^n1\s+yes/m);
    assert.match(r.stdout, /^n2\s+yes/m);
  });

  void it('a wrong token or bad arguments give a clear message and exit 2', async () => {
    const r = await cli(['nodes'], { ...env, FLEETCMD_API_TOKEN: 'wrong' });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /InvalidToken/);
    const u = await cli(['run', '--nodes', 'ghost', '--', 'true'], env);
    assert.equal(u.code, 2);
    assert.match(u.stderr, /InvalidNodeId\.NotFound: .*ghost/);
    const h = await cli(['run', '--help'], env);
    assert.equal(h.code, 0);
    assert.match(h.stdout, /Example: fleetcmd run/);
  });

  void it('a bad configuration value stops start-up with a message naming the variable', async () => {
    const r = await cli(['agent', '--node-id', 'x'], {
      ...stack.env,
      FLEETCMD_HEARTBEAT_SECONDS: 'soon',
    });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /FLEETCMD_HEARTBEAT_SECONDS/);
    const s = await cli(['server'], { ...stack.env, FLEETCMD_API_TOKEN: undefined, PORT: '1' });
    assert.equal(s.code, 2);
    assert.match(s.stderr, /FLEETCMD_API_TOKEN/);
  });
});

void describe('fleetcmd dev', () => {
  void it('starts a private redis-server, a server and two agents, prints URL and token, and stops cleanly', async () => {
    const port = await freePort();
    const env: Record<string, string | undefined> = {
      ...process.env,
      REDIS_URL: undefined,
      FLEETCMD_API_TOKEN: undefined,
    };
    // Exactly what README tells a newcomer: the built CLI through npx (npm test builds first).
    // In its own process group, so Ctrl-C can be sent the way a terminal sends it: to the group.
    const child = spawn('npx', ['fleetcmd', 'dev', '--port', String(port)], {
      cwd: ROOT,
      detached: true,
      env: env as NodeJS.ProcessEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const deadline = Date.now() + 60_000;
    while (!out.includes('Ctrl-C stops everything')) {
      if (child.exitCode !== null || Date.now() > deadline)
        assert.fail(`dev did not come up: ${out}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const url = /API:\s+(\S+)/.exec(out)?.[1];
    const token = /token:\s+(\S+)/.exec(out)?.[1];
    const redisPort = Number(/redis:\s+redis:\/\/127\.0\.0\.1:(\d+)/.exec(out)?.[1]);
    assert.equal(url, `http://127.0.0.1:${port}`);
    assert.ok(token && token.length >= 16);
    assert.match(out, /curl -s -H "Authorization: Bearer /);

    const call = async (action: string, body: unknown) => {
      const res = await fetch(`${url}/v1/${action}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      return (await res.json()) as Record<string, unknown>;
    };
    const { InvokeId } = (await call('RunCommand', {
      NodeIdList: ['n1', 'n2'],
      CommandContent: 'echo ok',
    })) as {
      InvokeId: string;
    };
    let status = '';
    for (let i = 0; i < 100 && status !== 'Success'; i++) {
      const d = (await call('DescribeInvocations', { InvokeId })) as {
        Invocations: { Invocation: { InvocationStatus: string }[] };
      };
      status = d.Invocations.Invocation[0]?.InvocationStatus ?? '';
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(status, 'Success');

    const exited = once(child, 'exit');
    process.kill(-(child.pid ?? 0), 'SIGINT');
    await exited;
    // The private redis-server went away with it.
    await assert.rejects(fetch(`${url}/healthz`));
    const { createConnection } = await import('node:net');
    const refused = await new Promise<boolean>((resolve) => {
      const s = createConnection(redisPort, '127.0.0.1');
      s.once('connect', () => (s.destroy(), resolve(false)));
      s.once('error', () => resolve(true));
    });
    assert.equal(refused, true, 'redis-server stopped');
  });
});
