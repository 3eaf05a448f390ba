import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import {
  chmod,
  chown,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CLI, makeStack, nodeOf, run, waitFinal, type Stack } from '../helpers/stack.js';
import { userAdmin as admin } from '../helpers/local-user.js';

/**
 * Issue 23, "a local user must never get root through the script path": a real second user
 * (useradd) attacks the directory the agent writes root's scripts in, the fallback it took when
 * /dev/shm was full, and the directory a restarted agent removes.
 */

const IS_ROOT = process.getuid?.() === 0;
const NOT_ROOT = 'needs root: useradd, chown to another user, mount and a root agent';

/** What the attacker's script prints when root runs it. */
const PWNED = 'PWNED-by-the-local-user';

/**
 * The attacker, as a Node program run as the user: it watches `dir` (the user's) and, for each
 * new `fleetcmd-*` entry, moves it away and plants its own directory with its own script.
 */
const ATTACKER = `
const fs = require('node:fs');
const dir = process.argv[1];
const seen = new Set();
fs.watch(dir, (_e, name) => {
  if (!name || !name.startsWith('fleetcmd-') || seen.has(name)) return;
  seen.add(name);
  try {
    fs.renameSync(dir + '/' + name, dir + '/.moved-' + name);
    fs.mkdirSync(dir + '/' + name, { mode: 0o755 });
    fs.writeFileSync(dir + '/' + name + '/script', 'echo ${PWNED}\\n', { mode: 0o755 });
  } catch {}
});
console.log('watching');
`;

void describe('the script path against a hostile local user', () => {
  let stack: Stack;
  let base: string;
  const user = `fcsp${randomBytes(3).toString('hex')}`;
  let uid = -1;
  let gid = -1;
  let created = false;
  const helpers: ChildProcess[] = [];

  /** Runs a shell command as the user. */
  const asUser = (script: string) =>
    execFileSync(
      'setpriv',
      [`--reuid=${uid}`, `--regid=${gid}`, '--init-groups', '--', '/bin/sh', '-c', script],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
    );

  before(async () => {
    if (!IS_ROOT) return;
    admin('useradd', ['-M', '-d', '/tmp', '-s', '/bin/sh', user]);
    created = true;
    uid = Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }));
    gid = Number(execFileSync('id', ['-g', user], { encoding: 'utf8' }));
    base = await mkdtemp('/tmp/fleetcmd-sp-');
    await chmod(base, 0o755);
    stack = await makeStack();
  });

  after(async () => {
    for (const h of helpers) h.kill('SIGKILL');
    await stack?.close();
    if (base) await rm(base, { recursive: true, force: true });
    if (created) admin('userdel', [user]);
  });

  void it('root never runs a script from a directory the user can swap, between runs or during them', async (t) => {
    if (!IS_ROOT) return t.skip(NOT_ROOT);
    // Fine when the agent starts: everything root's. Then the parent is handed to the user.
    const parent = join(base, 'race');
    const root = join(parent, 'scripts');
    await mkdir(root, { recursive: true, mode: 0o755 });
    await chmod(root, 0o700);
    const agent = await stack.startAgent('sp-race', { FLEETCMD_SCRIPT_DIR: root });
    await chown(parent, uid, gid);
    asUser(`mv '${root}' '${root}.orig' && mkdir '${root}'`);
    const attacker = spawn(
      'setpriv',
      [
        `--reuid=${uid}`,
        `--regid=${gid}`,
        '--init-groups',
        '--',
        process.execPath,
        '-e',
        ATTACKER,
        root,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    helpers.push(attacker);
    await once(attacker.stdout!, 'data');
    const outcomes: string[] = [];
    for (let i = 0; i < 3; i++) {
      const id = await run(stack, {
        NodeIdList: ['sp-race'],
        CommandContent: `echo root-run-${i}`,
      });
      const n = nodeOf(await waitFinal(stack, id), 'sp-race');
      outcomes.push(`${n.InvocationStatus} ${n.ErrorCode ?? ''} ${JSON.stringify(n.Output)}`);
    }
    attacker.kill('SIGKILL');
    assert.ok(
      outcomes.every((o) => !o.includes(PWNED)),
      `root ran the user's script: ${outcomes.join('; ')}`,
    );
    // Each run ends Error, and the agent's log says why.
    assert.ok(
      outcomes.every((o) => o.startsWith('Error ExecutionException')),
      outcomes.join('; '),
    );
    assert.ok(
      agent.log().includes(`is inside ${parent}, which is owned by uid ${uid}`),
      agent.log(),
    );
    await agent.kill('SIGKILL');
  });

  void it('an agent refuses a FLEETCMD_SCRIPT_DIR with an ancestor the user owns', async (t) => {
    if (!IS_ROOT) return t.skip(NOT_ROOT);
    const parent = join(base, 'theirs');
    const root = join(parent, 'scripts');
    await mkdir(root, { recursive: true, mode: 0o700 });
    await chown(parent, uid, gid);
    await assert.rejects(
      stack.startAgent('sp-refuse', { FLEETCMD_SCRIPT_DIR: root }),
      (err: Error) =>
        err.message.includes(
          `FLEETCMD_SCRIPT_DIR: ${root} is inside ${parent}, which is owned by uid ${uid}`,
        ),
    );
  });

  void it('with /dev/shm full, no root script goes to a TMPDIR the user owns: the run ends Error', async (t) => {
    if (!IS_ROOT) return t.skip(NOT_ROOT);
    const userTmp = join(base, 'user-tmp');
    await mkdir(userTmp, { mode: 0o700 });
    await chown(userTmp, uid, gid);
    // The agent in its own mount namespace, where /dev/shm is a tiny tmpfs that is full.
    const fill =
      'mount -t tmpfs -o size=64k,mode=1777 fleetcmd-full /dev/shm && ' +
      '{ cat /dev/zero > /dev/shm/fill 2>/dev/null; true; } && exec "$@"';
    const child = spawn(
      'unshare',
      [
        '--mount',
        '--propagation',
        'private',
        '--',
        '/bin/sh',
        '-c',
        fill,
        'sh',
        process.execPath,
        '--import',
        'tsx',
        CLI,
        'agent',
        '--node-id',
        'sp-full',
      ],
      { env: { ...process.env, ...stack.env, TMPDIR: userTmp }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    helpers.push(child);
    let log = '';
    child.stdout.on('data', (d: Buffer) => (log += d.toString()));
    child.stderr.on('data', (d: Buffer) => (log += d.toString()));
    await stack.waitFor(
      'the agent to start',
      async () => {
        if (child.exitCode !== null) throw new Error(`agent exited: ${log}`);
        return log.includes('"agent started"');
      },
      30_000,
    );
    const id = await run(stack, { NodeIdList: ['sp-full'], CommandContent: 'echo "script=$0"' });
    const n = nodeOf(await waitFinal(stack, id), 'sp-full');
    child.kill('SIGKILL');
    assert.equal(n.InvocationStatus, 'Error', `ran anyway: ${n.Output}`);
    assert.equal(n.ErrorCode, 'ExecutionException');
    // (tsx keeps its cache there: only scripts count.)
    const scripts = (await readdir(userTmp)).filter((n) => n.startsWith('fleetcmd-'));
    assert.deepEqual(scripts, [], 'no script written in the user-owned TMPDIR');
    assert.match(log, /script.*\/dev\/shm.*ENOSPC/);
  });

  void it('a restarted agent never removes through a script path the user swapped for a symlink', async (t) => {
    if (!IS_ROOT) return t.skip(NOT_ROOT);
    const parent = join(base, 'restart');
    const root = join(parent, 'scripts');
    await mkdir(root, { recursive: true, mode: 0o755 });
    await chmod(root, 0o700);
    const env = { FLEETCMD_SCRIPT_DIR: root };
    let agent = await stack.startAgent('sp-restart', env);
    const id = await run(stack, {
      NodeIdList: ['sp-restart'],
      CommandContent: 'echo "script=$0"; sleep 60',
      Timeout: 120,
    });
    const path = await stack.waitFor('the script path', async () => {
      const out = nodeOf(await stack.describe(id), 'sp-restart').Output ?? '';
      return /^script=(.+)$/m.exec(out)?.[1];
    });
    await agent.kill('SIGKILL');
    // A root-owned file the user cannot delete, where the recorded directory will point.
    const victimRoot = join(base, 'victim');
    const victim = join(victimRoot, basename(dirname(path)), 'script');
    await mkdir(dirname(victim), { recursive: true, mode: 0o755 });
    await writeFile(victim, 'precious\n', { mode: 0o644 });
    await chown(parent, uid, gid);
    asUser(`mv '${root}' '${root}.orig' && ln -s '${victimRoot}' '${root}'`);
    assert.throws(() => asUser(`rm -f '${victim}'`), 'the user cannot delete it');
    agent = await stack.startAgent('sp-restart', env);
    const n = nodeOf(await waitFinal(stack, id), 'sp-restart');
    assert.equal(n.ErrorCode, 'ExecutionInterrupted');
    await stack.waitFor('the restart to be logged', async () =>
      agent.log().includes('run interrupted by an agent restart'),
    );
    assert.equal(await readFile(victim, 'utf8'), 'precious\n', 'the root-owned file is kept');
    assert.equal((await stat(victim)).uid, 0);
    await agent.kill('SIGKILL');
  });
});
