import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { GATE } from '../../workers/agent/exec/launch-spec.js';
import { idsOf, userAdmin } from '../helpers/local-user.js';
import { openOutputChannel } from '../../workers/agent/exec/output-socket.js';
import { defaultScriptRoot, writeScript } from '../../workers/agent/exec/script-dir.js';
import {
  prepareCommand,
  startCommand,
  type ExecRequest,
} from '../../workers/agent/exec/start-command.js';
import { sharedSpawner, type SpawnerRequest } from '../../workers/agent/spawner.js';

/**
 * Commands made ahead of their start and held at the spawner's gate (prepareCommand): real
 * child processes, and no timing: each check waits for a state (the gate shell asleep on its
 * read, a process gone) and then looks.
 */

const LINUX = process.platform === 'linux';

const SPAWNER_MAIN = fileURLToPath(new URL('../../workers/agent/spawner-main.ts', import.meta.url));

/** The process's /proc state letter ('R', 'S', 'Z', ...), or undefined once it is gone. */
function procState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0];
  } catch {
    return undefined;
  }
}

/** Its command line, its arguments joined by spaces ('' once it is gone). */
function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '';
  }
}

/** Polls `check` until it holds (a state, not a time: the test's own timeout bounds it). */
async function until(what: string, check: () => boolean): Promise<void> {
  while (!check()) await new Promise((r) => setTimeout(r, 20));
  assert.ok(check(), what);
}

/** Waits until `pid` is the gate shell, asleep on its read of the gate. */
async function atGate(pid: number): Promise<void> {
  await until('the process held at its gate', () => {
    return cmdline(pid).includes(GATE[3] ?? '') && procState(pid) === 'S';
  });
}

/** Gone: no such process, or a zombie nobody reaped (an orphan of a container's init). */
function gone(pid: number): boolean {
  const state = procState(pid);
  return state === undefined || state === 'Z';
}

void describe('commands held at the gate', () => {
  let dir = '';
  let n = 0;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fleetcmd-gate-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const request = (content: string): ExecRequest => ({
    invokeId: `gate-${++n}`,
    content: Buffer.from(content),
    username: '',
    workingDir: dir,
    timeoutSeconds: 60,
    terminationMode: 'ProcessTree',
    launcher: '',
  });

  void it('runs nothing until released, then runs once with the usual outcome', async (t) => {
    if (!LINUX) return t.skip('the spawner and its gate are Linux only');
    const file = join(dir, 'released');
    const held = await prepareCommand(request(`echo ran >> '${file}'; echo out; exit 3`));
    assert.ok(held.pid !== undefined, 'a process is held');
    assert.ok(existsSync(held.scriptDir), 'its script is written');
    await atGate(held.pid);
    assert.equal(existsSync(file), false, 'nothing ran before the release');
    const handle = await held.start();
    assert.equal(handle.pid, held.pid, 'the command is the held process (exec)');
    const outcome = await handle.done;
    assert.equal(outcome.status, 'Failed');
    assert.equal(outcome.exitCode, 3);
    assert.equal(handle.capture.snapshot().output.toString(), 'out\n');
    assert.equal(await readFile(file, 'utf8'), 'ran\n', 'ran once');
    assert.equal(existsSync(held.scriptDir), false, 'its script removed');
    await held.discard();
    await assert.rejects(held.start(), /already started/, 'never started twice');
  });

  void it('discarded before its release: killed unrun, its script directory removed', async (t) => {
    if (!LINUX) return t.skip('the spawner and its gate are Linux only');
    const file = join(dir, 'discarded');
    const held = await prepareCommand(request(`touch '${file}'`));
    assert.ok(held.pid !== undefined);
    await atGate(held.pid);
    await held.discard();
    assert.ok(gone(held.pid), 'the held process is gone');
    assert.equal(existsSync(file), false, 'the command never ran');
    assert.equal(existsSync(held.scriptDir), false, 'its script directory removed');
    await assert.rejects(held.start(), /already discarded/);
  });

  void it('leaves the command nothing to see: its descriptors and environment are those of a run started at once', async (t) => {
    if (!LINUX) return t.skip('the spawner and its gate are Linux only');
    // The shell's own descriptors (its script's among them; listed by its own glob, which
    // starts no process) and its environment as it was exec'd, the run token aside (each run
    // has its own).
    const script =
      '[ -e /proc/$$/fd/3 ] && echo fd3 || echo no-fd3; ' +
      'for f in /proc/$$/fd/*; do printf "%s " "${f##*/}"; done; echo; ' +
      'tr "\\0" "\\n" < /proc/$$/environ | grep -v "^FLEETCMD_RUN_TOKEN=" | sort; ' +
      'tr "\\0" " " < /proc/$$/cmdline | grep -c fleetcmd-gate';
    const held = await prepareCommand(request(script));
    const gated = await held.start();
    await gated.done;
    const direct = await startCommand(request(script));
    await direct.done;
    const text = (h: typeof direct) => h.capture.snapshot().output.toString();
    assert.equal(
      text(gated).replace(/gate-\d+/, 'ID'),
      text(direct).replace(/gate-\d+/, 'ID'),
      'the same descriptors, environment and command line',
    );
    assert.match(text(gated), /^no-fd3\n/, 'no gate descriptor (fd 3)');
    assert.match(text(gated), /\n0\n$/, 'no trace of the gate in its command line');
  });

  void it('with a Launcher: the same outcome and output as a direct start', async (t) => {
    if (!LINUX) return t.skip('the spawner and its gate are Linux only');
    for (const launcher of ['/bin/sh -e', 'fleetcmd-no-such-launcher']) {
      const req = { ...request('echo "$0"; false; echo after'), launcher };
      const held = await prepareCommand(req);
      assert.ok(held.pid !== undefined, `held (${launcher})`);
      await atGate(held.pid);
      const gated = await held.start();
      const direct = await startCommand(req);
      const [a, b] = await Promise.all([gated.done, direct.done]);
      assert.deepEqual(a, b, launcher);
      const text = (h: typeof direct) =>
        h.capture
          .snapshot()
          .output.toString()
          .replace(/fleetcmd-\w+\/script/, 'SCRIPT');
      assert.equal(text(gated), text(direct), launcher);
    }
  });

  void it('as another user: held already as that user (uid, groups), and runs as a direct start would', async (t) => {
    if (!LINUX || process.getuid?.() !== 0) return t.skip('needs root, to make a user');
    const suffix = `${process.pid}`;
    const [user, extra] = [`fgate${suffix}`, `fgatex${suffix}`];
    userAdmin('groupadd', [extra]);
    userAdmin('useradd', ['-M', '-d', '/tmp', '-s', '/bin/sh', '-U', '-G', extra, user]);
    try {
      const { uid } = idsOf(user);
      const asUser = { ...request('id -u; id -G; echo "$HOME $USER"; pwd'), username: user };
      const held = await prepareCommand({ ...asUser, workingDir: '/tmp' });
      assert.ok(held.pid !== undefined);
      await atGate(held.pid);
      const status = readFileSync(`/proc/${held.pid}/status`, 'utf8');
      assert.match(status, new RegExp(`^Uid:\\s+${uid}\\s`, 'm'), 'held as the user already');
      const gated = await held.start();
      const direct = await startCommand({ ...asUser, workingDir: '/tmp' });
      const [a, b] = await Promise.all([gated.done, direct.done]);
      assert.equal(a.status, 'Success');
      assert.equal(b.status, 'Success');
      const text = gated.capture.snapshot().output.toString();
      assert.equal(text, direct.capture.snapshot().output.toString());
      assert.equal(text.split('\n')[0], String(uid));
      assert.equal(text.split('\n')[1]?.split(' ').length, 2, 'its own group and the extra one');
    } finally {
      userAdmin('userdel', [user]);
      userAdmin('groupdel', [extra]);
    }
  });

  void it('a held command whose spawner dies is started afresh, once, by start', async (t) => {
    if (!LINUX) return t.skip('the spawner and its gate are Linux only');
    const file = join(dir, 'respawned');
    const held = await prepareCommand(request(`echo ran >> '${file}'`));
    assert.ok(held.pid !== undefined);
    await atGate(held.pid);
    const spawnerPid = sharedSpawner().start();
    assert.ok(spawnerPid !== undefined);
    process.kill(spawnerPid, 'SIGKILL');
    await until('the held process gone with its spawner', () => gone(held.pid ?? 0));
    assert.equal(existsSync(file), false, 'the gate let nothing run');
    // Started once the agent's side has seen its spawner go (a release sent before that goes to
    // the dead spawner, and the run ends Error: started or not cannot be known).
    await until("the spawner's end noticed", () => !sharedSpawner().running());
    await new Promise((r) => setImmediate(r));
    const handle = await held.start();
    assert.notEqual(handle.pid, held.pid, 'a new process');
    assert.equal((await handle.done).status, 'Success');
    assert.equal(await readFile(file, 'utf8'), 'ran\n', 'ran once');
    assert.equal(existsSync(held.scriptDir), false, "the held process's script removed");
  });
});

void describe("the spawner's gate", () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fleetcmd-gate-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** A spawner of the test's own, and a gated `touch <file>` it holds: the command's pid. */
  async function holdTouch(file: string, scriptDir?: string) {
    const spawner = fork(SPAWNER_MAIN, [], {
      execArgv: ['--import', import.meta.resolve('tsx')],
      env: {},
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      serialization: 'json',
    });
    const channel = await openOutputChannel();
    assert.ok(channel);
    const request: SpawnerRequest = {
      type: 'spawn',
      id: 1,
      file: GATE[0] ?? '/bin/sh',
      args: [...GATE.slice(1), '/bin/sh', '-c', `touch '${file}'`],
      cwd: dir,
      env: { PATH: '/usr/bin:/bin' },
      gated: true,
      ...(scriptDir !== undefined ? { scriptDir } : {}),
    };
    const [reply] = (await Promise.all([
      once(spawner, 'message'),
      new Promise((r) => spawner.send(request, channel.writer, r)),
    ])) as [[{ type: string; pid: number }], unknown];
    assert.equal(reply[0].type, 'spawned');
    channel.reader.stream.destroy();
    await atGate(reply[0].pid);
    return { spawner, pid: reply[0].pid };
  }

  void it('end of file on the gate (its spawner gone) ends the command unrun', async (t) => {
    if (!LINUX) return t.skip('the spawner and its gate are Linux only');
    const file = join(dir, 'eof');
    const { spawner, pid } = await holdTouch(file);
    spawner.kill('SIGKILL');
    await until('the held process gone', () => gone(pid));
    assert.equal(existsSync(file), false, 'the command never ran');
  });

  void it('an agent gone while a command is held: the spawner kills it and removes its script directory', async (t) => {
    if (!LINUX) return t.skip('the spawner and its gate are Linux only');
    const check = defaultScriptRoot();
    assert.ok('root' in check, 'a script root');
    const written = writeScript(check.root, Buffer.from('true'), undefined);
    const file = join(dir, 'agent-gone');
    const { spawner, pid } = await holdTouch(file, written.dir);
    const exited = once(spawner, 'exit');
    spawner.disconnect();
    await exited;
    await until('the held process gone', () => gone(pid));
    assert.equal(existsSync(file), false, 'the command never ran');
    assert.equal(existsSync(written.dir), false, 'its script directory removed');
  });
});
