import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readdir, rm, stat, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  alive,
  makeStack,
  nodeOf,
  run,
  waitFinal,
  type AgentProcess,
  type Stack,
} from '../helpers/stack.js';
import { targetEnv } from '../../src/shared/redis-target.js';
import { userAdmin as admin } from '../helpers/local-user.js';
import { defaultScriptRoot } from '../../workers/agent/exec/script-dir.js';

const IS_ROOT = process.getuid?.() === 0;
const NOT_ROOT = 'needs root: only a root agent switches users, and useradd needs root';

/** The lines the test scripts print about their own script file and its directory. */
function scriptFacts(output: string): { path: string; file: string; dir: string } {
  const path = /^script=(.+)$/m.exec(output)?.[1];
  const file = /^file=(.+)$/m.exec(output)?.[1];
  const dir = /^dir=(.+)$/m.exec(output)?.[1];
  assert.ok(path && file && dir, `script facts in ${JSON.stringify(output)}`);
  return { path, file, dir };
}

/** Prints the script's own path, then `<mode> <uid> <gid>` of the file and of its directory. */
const SELF_STAT =
  'echo "script=$0"; echo "file=$(stat -c "%a %u %g" "$0")"; ' +
  'echo "dir=$(stat -c "%a %u %g" "$(dirname "$0")")"';

/** The script facts of a run on n1 that is still running (once it has printed them). */
function runningScript(stack: Stack, id: string): Promise<ReturnType<typeof scriptFacts>> {
  return stack.waitFor('the script facts', async () => {
    const out = nodeOf(await stack.describe(id), 'n1').Output ?? '';
    return /^dir=/m.test(out) ? scriptFacts(out) : undefined;
  });
}

/** The line `echo "spawner=$PPID pid=$$"` prints: the command's parent and its own pid. */
const PARENT_LINE = /^spawner=(\d+) pid=(\d+)$/m;

/** Starts a 60 s command on n1 that prints its parent's pid and its own, once it has. */
async function sleeperWithParent(
  stack: Stack,
): Promise<{ id: string; spawnerPid: number; commandPid: number }> {
  const id = await run(stack, {
    NodeIdList: ['n1'],
    CommandContent: 'echo "spawner=$PPID pid=$$"; sleep 60',
    Timeout: 120,
  });
  const [, spawner, pid] = await stack.waitFor('the command to start', async () => {
    return PARENT_LINE.exec(nodeOf(await stack.describe(id), 'n1').Output ?? '') ?? undefined;
  });
  return { id, spawnerPid: Number(spawner), commandPid: Number(pid) };
}

const gone = async (path: string) =>
  stat(path).then(
    () => false,
    () => true,
  );

void describe('execution: user, groups, environment and script files', () => {
  let stack: Stack;
  const tag = randomBytes(3).toString('hex');
  const user = `fcx${tag}`;
  const primary = `fcxp${tag}`;
  const extras = [`fcxa${tag}`, `fcxb${tag}`];
  let created = false;
  let ids: { uid: number; gid: number; groups: number[] } | undefined;
  const secret = `agent-secret-${randomBytes(8).toString('hex')}`;
  const agentEnv = { FLEETCMD_TEST_SECRET: secret, MY_APP_PASSWORD: secret };
  let agent: AgentProcess;

  before(async () => {
    if (IS_ROOT) {
      for (const g of [primary, ...extras]) admin('groupadd', [g]);
      // No home directory is created: HOME is /tmp, so nothing needs cleaning up but the entries.
      admin('useradd', [
        '-M',
        '-d',
        '/tmp',
        '-s',
        '/bin/sh',
        '-g',
        primary,
        '-G',
        extras.join(','),
        user,
      ]);
      created = true;
      const id = (flag: string) => execFileSync('id', [flag, user], { encoding: 'utf8' }).trim();
      ids = {
        uid: Number(id('-u')),
        gid: Number(id('-g')),
        groups: id('-G').split(' ').map(Number),
      };
    }
    stack = await makeStack();
    // A secret in the agent's own environment, beside its REDIS_URL and FLEETCMD_* settings.
    agent = await stack.startAgent('n1', agentEnv);
  });
  after(async () => {
    await stack?.close();
    if (created) {
      admin('userdel', [user]);
      for (const g of [primary, ...extras]) admin('groupdel', [g]);
    }
  });

  void it("runs with the requested user's uid, gid and supplementary groups", async (t) => {
    if (!IS_ROOT || !ids) return t.skip(NOT_ROOT);
    // The groups as /etc/group lists them, independently of id(1).
    const groupFile = execFileSync('getent', ['group'], { encoding: 'utf8' });
    const members = groupFile
      .split('\n')
      .map((l) => l.split(':'))
      .filter((f) => (f[3] ?? '').split(',').includes(user))
      .map((f) => Number(f[2]));
    assert.equal(members.length, 2, 'the user is listed in its two extra groups');
    const expected = [ids.gid, ...members].sort((a, b) => a - b);
    assert.deepEqual(
      [...ids.groups].sort((a, b) => a - b),
      expected,
    );

    const id = await run(stack, {
      NodeIdList: ['n1'],
      CommandContent: 'id -u; id -g; id -G; id -un; echo "HOME=$HOME USER=$USER LOGNAME=$LOGNAME"',
      Username: user,
    });
    const n = nodeOf(await waitFinal(stack, id), 'n1');
    assert.equal(n.InvocationStatus, 'Success', n.Output);
    const [uid, gid, groups, name, envLine] = (n.Output ?? '').trimEnd().split('\n');
    assert.equal(Number(uid), ids.uid);
    assert.equal(Number(gid), ids.gid);
    assert.deepEqual(
      (groups ?? '')
        .split(' ')
        .map(Number)
        .sort((a, b) => a - b),
      expected,
      'supplementary groups (Node’s own uid switch would have dropped them)',
    );
    assert.equal(name, user);
    assert.equal(envLine, `HOME=/tmp USER=${user} LOGNAME=${user}`);
  });

  void it('runs as root with root’s groups when no Username is given', async (t) => {
    if (!IS_ROOT) return t.skip(NOT_ROOT);
    const id = await run(stack, { NodeIdList: ['n1'], CommandContent: 'id -u; id -g; id -G' });
    const n = nodeOf(await waitFinal(stack, id), 'n1');
    const want = ['-u', '-g', '-G'].map((f) => execFileSync('id', [f], { encoding: 'utf8' }));
    assert.equal(n.Output, want.join(''));
  });

  void it('runs in the documented clean environment: nothing of the agent’s own leaks in', async () => {
    const id = await run(stack, { NodeIdList: ['n1'], CommandContent: 'env' });
    const n = nodeOf(await waitFinal(stack, id), 'n1');
    assert.equal(n.InvocationStatus, 'Success', n.Output);
    const out = n.Output ?? '';
    assert.ok(!out.includes(secret), `the agent's secret leaked: ${out}`);
    for (const [name, value] of Object.entries(targetEnv(stack.redisTarget))) {
      assert.ok(!out.includes(value), `the agent’s ${name} leaked`);
    }
    const env = new Map(
      out
        .split('\n')
        .filter(Boolean)
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as const),
    );
    // docs/architecture.md "Execution": exactly these, plus what /bin/sh itself exports (PWD).
    const documented = new Set([
      'PATH',
      'HOME',
      'USER',
      'LOGNAME',
      'SHELL',
      'LANG',
      'FLEETCMD_INVOKE_ID',
      'FLEETCMD_FIRE_ID',
      'FLEETCMD_RUN_TOKEN',
      ...(process.env.TZ ? ['TZ'] : []),
    ]);
    const shellOwn = new Set(['PWD', 'OLDPWD', 'SHLVL', '_']);
    for (const name of env.keys()) {
      assert.ok(documented.has(name) || shellOwn.has(name), `undocumented variable ${name}`);
    }
    for (const name of documented) assert.ok(env.has(name), `${name} is set`);
    assert.equal(env.get('PATH'), '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
    assert.equal(env.get('FLEETCMD_INVOKE_ID'), id);
    assert.equal(env.get('FLEETCMD_FIRE_ID'), '');
    assert.match(env.get('FLEETCMD_RUN_TOKEN') ?? '', /^[0-9a-f-]{36}$/);
  });

  void it('writes the script to a private directory (0700) and file (0600), removed afterwards', async () => {
    const id = await run(stack, { NodeIdList: ['n1'], CommandContent: SELF_STAT });
    const n = nodeOf(await waitFinal(stack, id), 'n1');
    assert.equal(n.InvocationStatus, 'Success', n.Output);
    const facts = scriptFacts(n.Output ?? '');
    const me = `${process.getuid?.()} ${process.getgid?.()}`;
    assert.equal(facts.file, `600 ${me}`);
    assert.equal(facts.dir, `700 ${me}`);
    // By default in memory: /dev/shm where the agent's own check accepts it (as on Linux), the
    // system's temporary directory otherwise; this process runs as the same user as the agent.
    const chosen = defaultScriptRoot();
    assert.ok('root' in chosen, `the agent found no script root: ${JSON.stringify(chosen)}`);
    assert.equal(dirname(dirname(facts.path)), chosen.root, facts.path);
    assert.match(basename(dirname(facts.path)), /^fleetcmd-/);
    // The run is reported only after its script directory is gone.
    assert.ok(await gone(facts.path), `${facts.path} removed`);
    assert.ok(await gone(join(facts.path, '..')), 'its directory removed');
  });

  void it('writes scripts in FLEETCMD_SCRIPT_DIR, and an agent refuses one it cannot write to', async () => {
    const root = await mkdtemp(join(tmpdir(), 'fleetcmd-scripts-'));
    try {
      const other = await stack.startAgent('n2', { FLEETCMD_SCRIPT_DIR: root });
      const id = await run(stack, { NodeIdList: ['n2'], CommandContent: SELF_STAT });
      const n = nodeOf(await waitFinal(stack, id), 'n2');
      assert.equal(n.InvocationStatus, 'Success', n.Output);
      const facts = scriptFacts(n.Output ?? '');
      assert.equal(dirname(dirname(facts.path)), root, facts.path);
      assert.ok(await gone(dirname(facts.path)), 'its directory removed');
      assert.deepEqual(await readdir(root), [], 'nothing left in the root');
      await other.kill();
      const missing = join(root, 'missing');
      await assert.rejects(stack.startAgent('n3', { FLEETCMD_SCRIPT_DIR: missing }), (err: Error) =>
        err.message.includes(`FLEETCMD_SCRIPT_DIR: ${missing} is not a directory the agent`),
      );
      // Writable by anyone and not sticky: another user could swap a script directory.
      const open = join(root, 'open');
      await mkdir(open);
      await chmod(open, 0o777);
      await assert.rejects(stack.startAgent('n3', { FLEETCMD_SCRIPT_DIR: open }), (err: Error) =>
        err.message.includes(
          `FLEETCMD_SCRIPT_DIR: ${open} is writable by other users and not sticky`,
        ),
      );
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  void it('the script belongs to the requested user, its directory to the agent', async (t) => {
    if (!IS_ROOT || !ids) return t.skip(NOT_ROOT);
    const id = await run(stack, {
      NodeIdList: ['n1'],
      CommandContent: SELF_STAT,
      Username: user,
    });
    const n = nodeOf(await waitFinal(stack, id), 'n1');
    assert.equal(n.InvocationStatus, 'Success', n.Output);
    const facts = scriptFacts(n.Output ?? '');
    assert.equal(facts.file, `600 ${ids.uid} ${ids.gid}`);
    // The directory stays the agent's (traversable only): the user cannot swap the script.
    assert.equal(facts.dir, `711 ${process.getuid?.()} ${process.getgid?.()}`);
    assert.ok(await gone(join(facts.path, '..')), 'its directory removed');
  });

  for (const how of ['timeout', 'stop'] as const) {
    void it(`removes the script directory after a ${how}`, async () => {
      const id = await run(stack, {
        NodeIdList: ['n1'],
        CommandContent: `${SELF_STAT}; sleep 60`,
        Timeout: how === 'timeout' ? 2 : 120,
      });
      const facts = await runningScript(stack, id);
      assert.equal(await gone(facts.path), false, 'the script exists while it runs');
      if (how === 'stop') {
        assert.equal((await stack.call('StopInvocation', { InvokeId: id })).status, 200);
      }
      const n = nodeOf(await waitFinal(stack, id), 'n1');
      assert.equal(n.InvocationStatus, how === 'stop' ? 'Terminated' : 'Timeout');
      assert.ok(await gone(join(facts.path, '..')), `${facts.path}'s directory removed`);
    });
  }

  void it('removes the script directory of a run whose agent was killed, when it restarts', async () => {
    const id = await run(stack, {
      NodeIdList: ['n1'],
      CommandContent: `${SELF_STAT}; sleep 60`,
      Timeout: 120,
    });
    const facts = await runningScript(stack, id);
    await agent.kill('SIGKILL');
    assert.equal(await gone(facts.path), false, 'a killed agent leaves its script behind');
    agent = await stack.startAgent('n1', agentEnv);
    const n = nodeOf(await waitFinal(stack, id), 'n1');
    assert.equal(n.InvocationStatus, 'Error');
    assert.equal(n.ErrorCode, 'ExecutionInterrupted');
    await stack.waitFor('the script directory to go', () => gone(join(facts.path, '..')), 5_000);
  });

  void it('a spawner killed mid-run: that run ends Error with its command killed and is not run again; a new spawner starts the next, and none outlives its agent', async () => {
    const { id, spawnerPid, commandPid } = await sleeperWithParent(stack);
    assert.notEqual(spawnerPid, agent.child.pid, "the command's parent is the spawner");
    process.kill(spawnerPid, 'SIGKILL');
    const n = nodeOf(await waitFinal(stack, id), 'n1');
    assert.equal(n.InvocationStatus, 'Error', n.Output);
    assert.equal(n.ErrorCode, 'ExecutionException');
    assert.equal(n.Repeats, 1);
    assert.equal(n.Output, `spawner=${spawnerPid} pid=${commandPid}\n`, 'its output kept, once');
    assert.match(
      agent.log(),
      new RegExp(`"spawnerPid":${spawnerPid},"why":"the spawner exited \\(signal SIGKILL\\)"`),
    );
    await stack.waitFor('the command to be killed', async () => !alive(commandPid), 5_000);

    const next = await run(stack, {
      NodeIdList: ['n1'],
      CommandContent: 'echo "spawner=$PPID pid=$$"',
    });
    const m = nodeOf(await waitFinal(stack, next), 'n1');
    assert.equal(m.InvocationStatus, 'Success', m.Output);
    const nextSpawner = Number(PARENT_LINE.exec(m.Output ?? '')?.[1]);
    assert.ok(nextSpawner > 0 && nextSpawner !== spawnerPid, `a new spawner (${m.Output})`);
    assert.notEqual(nextSpawner, agent.child.pid, 'still not the agent itself');
    assert.ok(alive(nextSpawner));
    // The killed run stayed as it ended.
    assert.equal(nodeOf(await stack.describe(id), 'n1').Repeats, 1);

    await agent.kill('SIGKILL');
    await stack.waitFor(
      'the spawner to exit with its agent',
      async () => !alive(nextSpawner),
      5_000,
    );
    agent = await stack.startAgent('n1', agentEnv);
  });

  void it('a spawner that stops answering is given up after 15 s: a run it did not start ends Error, not started; a running one it did not kill for a stop ends Terminated, killed by its token; the next run gets a new spawner', async () => {
    const { id: long, spawnerPid, commandPid } = await sleeperWithParent(stack);
    process.kill(spawnerPid, 'SIGSTOP');
    // The stop's kill request and the next run's spawn request both go unanswered.
    assert.equal((await stack.call('StopInvocation', { InvokeId: long })).status, 200);
    const marker = join(tmpdir(), `fleetcmd-wedged-${randomBytes(4).toString('hex')}`);
    const id = await run(stack, { NodeIdList: ['n1'], CommandContent: `touch ${marker}` });
    const n = nodeOf(await waitFinal(stack, id, 40_000), 'n1');
    assert.equal(n.InvocationStatus, 'Error', n.Output);
    assert.equal(n.ErrorCode, 'ExecutionException');
    assert.equal(n.StartTime, '', 'it never started');
    assert.equal(n.Repeats, 0);
    assert.equal(await gone(marker), true, 'the command never ran');
    // It was being stopped, so it ends as a stopped run does, once its processes are killed.
    const l = nodeOf(await waitFinal(stack, long, 40_000), 'n1');
    assert.equal(l.InvocationStatus, 'Terminated', l.Output);
    assert.equal(l.Repeats, 1);
    await stack.waitFor('the running command to be killed', async () => !alive(commandPid), 5_000);
    await stack.waitFor('the wedged spawner to be killed', async () => !alive(spawnerPid), 5_000);
    assert.match(agent.log(), /the spawner did not answer a (spawn|kill) request within 15000 ms/);
    const next = await run(stack, { NodeIdList: ['n1'], CommandContent: 'echo $PPID' });
    const m = nodeOf(await waitFinal(stack, next), 'n1');
    assert.equal(m.InvocationStatus, 'Success', m.Output);
    assert.notEqual(Number(m.Output), spawnerPid);
  });

  void it('without setpriv, never runs a command with fewer groups than its user has', async (t) => {
    if (!IS_ROOT || !ids) return t.skip(NOT_ROOT);
    // An agent whose PATH has what it looks up (getent, id) but no setpriv.
    const bin = await mkdtemp(join(tmpdir(), 'fleetcmd-nosetpriv-'));
    try {
      for (const tool of ['getent', 'id']) {
        const where = execFileSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' });
        await symlink(where.trim(), join(bin, tool));
      }
      await stack.startAgent('n2', { PATH: bin });
      // The user has supplementary groups: Node's own uid switch would drop them, so it is refused.
      const refused = await run(stack, {
        NodeIdList: ['n2'],
        CommandContent: 'id -G',
        Username: user,
      });
      const r = nodeOf(await waitFinal(stack, refused), 'n2');
      assert.equal(r.InvocationStatus, 'Error', r.Output);
      assert.equal(r.ErrorCode, 'ExecutionException');
      assert.equal(r.Output, '');
      // A user whose only group is its primary one loses nothing: Node's switch runs it.
      admin('usermod', ['-G', '', user]);
      const ok = await run(stack, {
        NodeIdList: ['n2'],
        CommandContent: 'id -u; id -G',
        Username: user,
      });
      const a = nodeOf(await waitFinal(stack, ok), 'n2');
      assert.equal(a.InvocationStatus, 'Success', a.Output);
      assert.equal(a.Output, `${ids.uid}\n${ids.gid}\n`);
    } finally {
      admin('usermod', ['-G', extras.join(','), user]);
      await rm(bin, { recursive: true, force: true });
    }
  });
});
