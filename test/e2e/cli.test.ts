import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gateSh, openGate, startCli } from '../helpers/events.js';
import { hangBound } from '../helpers/hang.js';
import { singleRedisOnly } from '../helpers/redis.js';
import { ROOT, makeStack, nodeOf, runCli, waitFor, type Stack } from '../helpers/stack.js';

/** --json output: one raw API answer per line. */
function jsonLines(stdout: string): unknown[] {
  return stdout
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as unknown);
}

const cli = runCli;

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
    // Not a terminal: progress comes as plain lines on stderr, the last one complete.
    assert.match(r.stderr, /^\[#{20}\] 2\/2 {2}Success 2$/m);
    assert.doesNotMatch(r.stderr, /\r/);
  });

  void it('run --wait exits non-zero when the invocation does not end Success', async () => {
    const r = await cli(['run', '--nodes', 'n1', '--wait', '--', 'echo oops; exit 4'], env);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /--- n1: Failed exit 4 \(the command execution exit code is not zero\)/);
    assert.match(r.stdout, /oops/);
    // Far longer than any run of the suite: only the 1 s timeout can end it.
    const t = await cli(
      ['run', '--nodes', 'n1', '--timeout', '1', '--wait', '--', 'sleep 600'],
      env,
    );
    assert.equal(t.code, 3, t.stderr);
    assert.match(t.stdout, /--- n1: Timeout exit 137/);
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
    const d = await cli(['describe', id], env);
    assert.match(d.stdout, new RegExp(`^${id}  Stopped  Once  created \\S+Z$`, 'm'));
    assert.match(d.stdout, /^NODE\s+STATUS\s+EXIT\s+RUNS\s+STARTED\s+FINISHED\s+ERROR$/m);
    assert.match(d.stdout, /^n1\s+Terminated\s+137\s+1\s+\S+Z\s+\S+Z/m);
    // --json: the raw answers, one per line (DescribeInvocations, DescribeInvocationResults).
    const [inv, results] = jsonLines((await cli(['describe', id, '--json'], env)).stdout) as [
      { Invocations: { Invocation: { InvocationStatus: string }[] } },
      { Invocation: { InvocationResults: { InvocationResult: { NodeId: string }[] } } },
    ];
    assert.equal(inv.Invocations.Invocation[0]?.InvocationStatus, 'Stopped');
    assert.equal(results.Invocation.InvocationResults.InvocationResult[0]?.NodeId, 'n1');

    // Without an id: the latest invocations, this one first.
    const l = await cli(['describe', '--max', '3'], env);
    assert.equal(l.code, 0, l.stderr);
    assert.match(l.stdout, /^INVOKE ID\s+NAME\s+STATUS\s+MODE\s+NODES\s+CREATED$/m);
    assert.match(
      l.stdout.split('\n')[1] ?? '',
      new RegExp(`^${id}\\s+-\\s+Stopped\\s+Once\\s+1/1\\s+\\S+Z$`),
    );
    assert.equal(l.stdout.trim().split('\n').length, 4);
    const f = await cli(['describe', '--status', 'Stopped', '--json'], env);
    const list = jsonLines(f.stdout)[0] as { Invocations: { Invocation: { InvokeId: string }[] } };
    assert.ok(list.Invocations.Invocation.some((i) => i.InvokeId === id));
  });

  void it('logs --follow prints each line of every node once, in order, as it arrives', async () => {
    // Each node prints three lines, then holds until the test opens the gate, which it does only
    // once the CLI has printed those lines: they can only have come while the command ran.
    const gateDir = await mkdtemp(join(tmpdir(), 'fleetcmd-cli-gate-'));
    const gate = join(gateDir, 'go');
    const script =
      `for i in 1 2 3; do echo line $i; done; ${gateSh(gate)}; ` +
      'for i in 4 5 6; do echo line $i; done';
    const r = await cli(['run', '--nodes', 'n1,n2', '--', script], env);
    assert.equal(r.code, 0, r.stderr);
    const id = r.stdout.trim();
    const follow = startCli(['logs', id, '--follow'], env);
    let f: Awaited<typeof follow.done>;
    let gateOpenedAt: number;
    try {
      await follow.waitForOutput(['n1 | line 3\n', 'n2 | line 3\n'], 60_000);
      gateOpenedAt = Date.now();
      await openGate(gate);
      f = await hangBound('logs --follow to exit', follow.done);
    } finally {
      await openGate(gate).catch(() => undefined);
      await rm(gateDir, { recursive: true, force: true });
    }
    assert.equal(f.code, 0, f.stderr);
    const inv = await stack.describe(id);
    for (const n of ['n1', 'n2']) {
      const finish = Date.parse(nodeOf(inv, n).FinishTime ?? '');
      assert.ok(Number.isFinite(finish), `${n} has a FinishTime`);
      for (const i of [1, 2, 3]) {
        const at = follow.arrivedAt(`${n} | line ${i}\n`) ?? Infinity;
        // The gate opens after the poll that saw the line, possibly in the same millisecond.
        assert.ok(at <= gateOpenedAt, `${n} line ${i} was printed before the gate opened`);
        // FinishTime has whole seconds: the chunk's second is at most the run's.
        assert.ok(Math.floor(at / 1000) * 1000 <= finish, `${n} line ${i} came before FinishTime`);
      }
    }
    const lines = f.stdout.trimEnd().split('\n');
    const expected = (n: string) => [1, 2, 3, 4, 5, 6].map((i) => `${n} | line ${i}`);
    assert.deepEqual(
      lines.filter((l) => l.startsWith('n1 ')),
      expected('n1'),
    );
    assert.deepEqual(
      lines.filter((l) => l.startsWith('n2 ')),
      expected('n2'),
    );
    assert.equal(lines.length, 12);

    // Afterwards: one node's output as it is; several nodes with a header each.
    const one = await cli(['logs', id, '--node', 'n1'], env);
    assert.equal(one.stdout, [1, 2, 3, 4, 5, 6].map((i) => `line ${i}\n`).join(''));
    const both = await cli(['logs', id], env);
    assert.match(both.stdout, /^--- n1: Success exit 0\nline 1\n/m);
    assert.match(both.stdout, /^--- n2: Success exit 0\nline 1\n/m);
    const j = jsonLines((await cli(['logs', id, '--json'], env)).stdout)[0] as {
      Invocation: { InvocationResults: { InvocationResult: { Output: string }[] } };
    };
    assert.match(j.Invocation.InvocationResults.InvocationResult[0]?.Output ?? '', /^line 1\n/);
  });

  void it('logs --follow exits with the status code, and marks bytes the API dropped', async () => {
    // 40 KB at once: over the 24 KiB the API keeps, before the first poll can see it.
    const r = await cli(
      ['run', '--nodes', 'n1', '--', 'head -c 40000 /dev/zero | tr "\\0" x; echo; exit 6'],
      env,
    );
    const f = await cli(['logs', r.stdout.trim(), '--follow'], env);
    assert.equal(f.code, 1, f.stderr);
    assert.match(f.stdout, /^… \[\d+ bytes dropped\] …$/m);
    const kept = f.stdout.replace(/… \[(\d+) bytes dropped\] …\n/, '');
    const dropped = Number(/\[(\d+) bytes dropped\]/.exec(f.stdout)?.[1]);
    assert.equal(kept.length - 1 + dropped, 40_001, 'printed + dropped = every byte');
  });

  void it('nodes lists the registered agents', async () => {
    const r = await cli(['nodes'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /^NODE\s+ONLINE\s+HOSTNAME\s+OS\s+ZONE\s+AGENT\s+ACTIVE\s+LAST HEARTBEAT\s+TAGS$/m,
    );
    assert.match(r.stdout, /^n1\s+yes\s+\S+\s+linux\s+\S+\s+\S+\s+\d+\s+\S+Z\s+-$/im);
    assert.match(r.stdout, /^n2\s+yes/m);
    const o = await cli(['nodes', '--online', '--json'], env);
    const [page] = jsonLines(o.stdout) as [{ Nodes: { Node: { NodeId: string }[] } }];
    assert.deepEqual(page.Nodes.Node.map((n) => n.NodeId).sort(), ['n1', 'n2']);
  });

  void it('--json prints only JSON on stdout, and no progress without a terminal', async () => {
    const r = await cli(['run', '--nodes', 'n1', '--json', '--', 'true'], env);
    assert.match((jsonLines(r.stdout)[0] as { InvokeId: string }).InvokeId, /^t-/);
    const w = await cli(['run', '--nodes', 'n1,n2', '--wait', '--json', '--', 'echo j'], env);
    assert.equal(w.code, 0, w.stderr);
    assert.equal(w.stderr, '');
    const [started, final] = jsonLines(w.stdout) as [
      { InvokeId: string },
      { Invocations: { Invocation: { InvokeId: string; InvocationStatus: string }[] } },
    ];
    assert.equal(final.Invocations.Invocation[0]?.InvokeId, started.InvokeId);
    assert.equal(final.Invocations.Invocation[0]?.InvocationStatus, 'Success');
    const s = await cli(['stop', started.InvokeId, '--json'], env);
    assert.equal(s.code, 0, s.stderr);
    assert.ok('RequestId' in (jsonLines(s.stdout)[0] as object));
  });

  void it('--help of every subcommand shows an example; fleetcmd --help lists them all', async () => {
    const subcommands = [
      ['run'],
      ['describe'],
      ['logs'],
      ['stop'],
      ['nodes'],
      ['command', 'create'],
      ['command', 'list'],
      ['command', 'modify'],
      ['command', 'delete'],
      ['command', 'invoke'],
      ['send-file'],
      ['send-file-results'],
    ];
    const top = await cli(['--help'], env);
    assert.equal(top.code, 0);
    const helps = await Promise.all(subcommands.map((c) => cli([...c, '--help'], env)));
    for (const [i, c] of subcommands.entries()) {
      const name = c.join(' ');
      assert.equal(helps[i]?.code, 0, name);
      assert.match(helps[i]?.stdout ?? '', new RegExp(`Example: fleetcmd ${name} `), name);
      assert.match(top.stdout, new RegExp(`fleetcmd ${c[0] ?? ''} `), name);
    }
  });

  void it('a wrong token exits 7, bad arguments 2, each with a clear message', async () => {
    const r = await cli(['nodes'], { ...env, FLEETCMD_API_TOKEN: 'wrong' });
    assert.equal(r.code, 7);
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

void describe('the fleetcmd CLI: saved commands and files', () => {
  let stack: Stack;
  let env: Record<string, string>;
  let dir: string;

  before(async () => {
    stack = await makeStack();
    await stack.startAgent('n1');
    await stack.startAgent('n2');
    env = { FLEETCMD_URL: stack.url, FLEETCMD_API_TOKEN: stack.token };
    dir = await mkdtemp(join(tmpdir(), 'fleetcmd-cli-'));
  });
  after(async () => {
    await stack.close();
    await rm(dir, { recursive: true, force: true });
  });

  void it('command create, list, modify, invoke --wait with a parameter, delete', async () => {
    const name = `greet-${Date.now()}`;
    const c = await cli(
      ['command', 'create', '--name', name, '--enable-parameter', '--', 'echo hello {{who}}'],
      env,
    );
    assert.equal(c.code, 0, c.stderr);
    const id = c.stdout.trim();
    assert.ok(id.length > 0);

    const l = await cli(['command', 'list', '--name', name], env);
    assert.equal(l.code, 0, l.stderr);
    assert.match(
      l.stdout,
      /^COMMAND ID\s+NAME\s+TIMEOUT\s+PARAMETERS\s+RUNS\s+CREATED\s+CONTENT$/m,
    );
    assert.match(
      l.stdout,
      new RegExp(`^${id}\\s+${name}\\s+60\\s+who\\s+0\\s+\\S+Z\\s+echo hello`, 'm'),
    );

    const m = await cli(['command', 'modify', id, '--timeout', '30'], env);
    assert.equal(m.code, 0, m.stderr);
    const j = jsonLines(
      (await cli(['command', 'list', '--name', name, '--json'], env)).stdout,
    )[0] as {
      Commands: { Command: { CommandId: string; Timeout: number }[] };
    };
    assert.equal(j.Commands.Command[0]?.Timeout, 30);

    const i = await cli(
      ['command', 'invoke', id, '--nodes', 'n1,n2', '--param', 'who=world', '--wait'],
      env,
    );
    assert.equal(i.code, 0, i.stderr);
    assert.match(i.stdout, /--- n1: Success exit 0\nhello world\n/);
    assert.match(i.stdout, /--- n2: Success exit 0\nhello world\n/);
    assert.match(i.stderr, /2\/2 {2}Success 2/);

    const d = await cli(['command', 'delete', id, '--json'], env);
    assert.equal(d.code, 0, d.stderr);
    assert.ok('RequestId' in (jsonLines(d.stdout)[0] as object));
    const gone = await cli(['command', 'list', '--name', name], env);
    assert.doesNotMatch(gone.stdout, new RegExp(id));
  });

  void it('send-file --wait writes the file on the node; send-file-results shows it', async () => {
    const local = join(dir, 'app.conf');
    await writeFile(local, 'key=value\n');
    const target = join(dir, 'on-node');
    await mkdir(target);
    const s = await cli(
      ['send-file', '--nodes', 'n1', '--target-dir', target, '--mode', '0600', '--wait', local],
      env,
    );
    assert.equal(s.code, 0, s.stderr);
    assert.match(s.stdout, /^f-\S+\s+Success\s/m);
    assert.match(s.stdout, /^n1\s+Success\s/m);
    assert.equal(await readFile(join(target, 'app.conf'), 'utf8'), 'key=value\n');
    assert.equal((await stat(join(target, 'app.conf'))).mode & 0o777, 0o600);
    const id = /^(f-\S+)/m.exec(s.stdout)?.[1] ?? '';

    const again = await cli(
      ['send-file', '--nodes', 'n1', '--target-dir', target, '--wait', local],
      env,
    );
    assert.ok(again.code === 1 || again.code === 4, `no --overwrite: ${again.code}`);

    const one = await cli(['send-file-results', id], env);
    assert.equal(one.code, 0, one.stderr);
    assert.match(one.stdout, /^NODE\s+STATUS\s+STARTED\s+FINISHED\s+ERROR CODE\s+ERROR$/m);
    assert.match(one.stdout, /^n1\s+Success\s/m);
    const list = await cli(['send-file-results', '--name', 'app.conf'], env);
    assert.match(list.stdout, /^INVOKE ID\s+NAME\s+TARGET\s+STATUS\s+NODES\s+CREATED$/m);
    assert.match(list.stdout, new RegExp(`^${id}\\s+app\\.conf\\s+\\S+\\s+Success\\s+1/1\\s`, 'm'));
    const j = jsonLines((await cli(['send-file-results', id, '--json'], env)).stdout)[0] as {
      Invocations: { Invocation: { InvokeId: string }[] };
    };
    assert.equal(j.Invocations.Invocation[0]?.InvokeId, id);
  });
});

// `fleetcmd dev` runs its own single redis-server: the test cluster has no part in it.
void describe('fleetcmd dev', () => {
  const skip = singleRedisOnly('fleetcmd dev runs its own redis-server');
  void it(
    'starts a private redis-server, a server and two agents, prints URL and token, and stops cleanly',
    { skip },
    async () => {
      const env: Record<string, string | undefined> = {
        ...process.env,
        REDIS_URL: undefined,
        FLEETCMD_API_TOKEN: undefined,
      };
      // Exactly what README tells a newcomer: the built CLI through npx (npm test builds first).
      // In its own process group, so Ctrl-C can be sent the way a terminal sends it: to the group.
      const child = spawn('npx', ['fleetcmd', 'dev', '--port', '0'], {
        cwd: ROOT,
        detached: true,
        env: env as NodeJS.ProcessEnv,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      await waitFor(
        'dev to come up',
        async () => {
          if (child.exitCode !== null) assert.fail(`dev exited: ${out}`);
          return out.includes('Ctrl-C stops everything');
        },
        60_000,
      );
      const url = /API:\s+(\S+)/.exec(out)?.[1];
      const token = /token:\s+(\S+)/.exec(out)?.[1];
      const redisPort = Number(/redis:\s+redis:\/\/(?:[^@\s]*@)?127\.0\.0\.1:(\d+)/.exec(out)?.[1]);
      // --port 0: dev prints the address the server bound.
      assert.match(url ?? '', /^http:\/\/127\.0\.0\.1:[1-9]\d*$/);
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
      const status = await waitFor(
        'the run to end',
        async () => {
          const d = (await call('DescribeInvocations', { InvokeId })) as {
            Invocations: { Invocation: { InvocationStatus: string }[] };
          };
          const st = d.Invocations.Invocation[0]?.InvocationStatus ?? '';
          return ['Success', 'Failed', 'PartialFailed', 'Stopped'].includes(st) && st;
        },
        60_000,
      );
      assert.equal(status, 'Success');
      // On its own redis-server, dev gives each agent its own ACL user (fleetcmd node add).
      assert.equal(out.match(/Redis credentials confined to this node/g)?.length, 2, out);

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
    },
  );
});
