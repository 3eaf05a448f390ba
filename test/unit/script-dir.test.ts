import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  chmod,
  chown,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  checkScriptRoot,
  isAgentScriptDir,
  ownershipProblem,
  removeOwnDir,
  removeScriptDir,
  scriptRootProblem,
  writeScript,
} from '../../workers/agent/exec/script-dir.js';

const IS_ROOT = process.getuid?.() === 0;

void describe('script directories', () => {
  let base: string;
  before(async () => {
    base = await mkdtemp(join(tmpdir(), 'fleetcmd-unit-roots-'));
  });
  after(async () => {
    await rm(base, { recursive: true, force: true });
  });

  void it('accepts a private or sticky root and names what is wrong with any other', async () => {
    const own = join(base, 'own');
    await mkdir(own, { mode: 0o700 });
    assert.equal(scriptRootProblem(own), undefined);
    const sticky = join(base, 'sticky');
    await mkdir(sticky);
    await chmod(sticky, 0o1777);
    assert.equal(scriptRootProblem(sticky), undefined);
    const open = join(base, 'open');
    await mkdir(open);
    await chmod(open, 0o777);
    assert.equal(scriptRootProblem(open), 'is writable by other users and not sticky');
    const file = join(base, 'file');
    await writeFile(file, '');
    assert.equal(scriptRootProblem(file), 'is not a directory');
    assert.match(scriptRootProblem(join(base, 'missing')) ?? '', /can write to \(ENOENT\)$/);
  });

  void it('refuses a root owned by another user', async (t) => {
    if (!IS_ROOT) return t.skip('needs root to give a directory away');
    const theirs = join(base, 'theirs');
    await mkdir(theirs, { mode: 0o755 });
    await chown(theirs, 65534, 65534);
    assert.equal(scriptRootProblem(theirs), 'is owned by uid 65534');
  });

  void it('checks every directory above a root, and uses its real path', async (t) => {
    if (!IS_ROOT) return t.skip('needs root to give a directory away');
    const theirs = join(base, 'their-parent');
    await mkdir(join(theirs, 'scripts'), { recursive: true, mode: 0o700 });
    await chown(theirs, 65534, 65534);
    assert.equal(
      scriptRootProblem(join(theirs, 'scripts')),
      `is inside ${theirs}, which is owned by uid 65534`,
    );
    const good = join(base, 'linked-target');
    await mkdir(good, { mode: 0o700 });
    await symlink(good, join(base, 'link'));
    assert.deepEqual(checkScriptRoot(join(base, 'link')), { root: good });
  });

  void it('writes in its root only, and refuses a root that is missing', async () => {
    const good = join(base, 'good');
    await mkdir(good, { mode: 0o700 });
    const written = writeScript(good, Buffer.from('echo hi\n'), undefined);
    assert.equal(dirname(written.dir), good);
    assert.equal(await readFile(written.script, 'utf8'), 'echo hi\n');
    assert.equal((await stat(written.script)).mode & 0o777, 0o600);
    assert.equal((await stat(written.dir)).mode & 0o777, 0o700);
    assert.equal(await removeOwnDir(written), true);
    assert.deepEqual(await readdir(good), []);
    assert.throws(() => writeScript(join(base, 'missing'), Buffer.from('x'), undefined), {
      code: 'ENOENT',
    });
  });

  void it('removes the directory of a write that failed after it was made (a full root)', async (t) => {
    if (!IS_ROOT) return t.skip('needs root to mount a small tmpfs');
    const full = join(base, 'full');
    await mkdir(full, { mode: 0o700 });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=65536,mode=0700', 'tmpfs', full]);
    try {
      // The directory is made; the script's bytes do not fit: the write fails with ENOSPC.
      assert.throws(() => writeScript(full, Buffer.alloc(1024 * 1024, 0x41), undefined), {
        code: 'ENOSPC',
      });
      assert.deepEqual(await readdir(full), [], 'what the failed write made is removed');
      // And the root still takes a script that fits.
      const written = writeScript(full, Buffer.from('echo hi\n'), undefined);
      assert.equal(await removeOwnDir(written), true);
    } finally {
      execFileSync('umount', [full]);
    }
  });

  void it("never removes a recorded directory that is a link, not the agent's, or not its mode", async (t) => {
    const root = join(base, 'recorded');
    await mkdir(root, { mode: 0o700 });
    const elsewhere = join(base, 'elsewhere');
    await mkdir(elsewhere, { mode: 0o700 });
    await writeFile(join(elsewhere, 'script'), 'keep');
    await symlink(elsewhere, join(root, 'fleetcmd-link'));
    assert.equal(await removeScriptDir(join(root, 'fleetcmd-link'), root), false);
    const wideOpen = join(root, 'fleetcmd-0755');
    await mkdir(wideOpen, { mode: 0o755 });
    assert.equal(await removeScriptDir(wideOpen, root), false);
    assert.equal(await readFile(join(elsewhere, 'script'), 'utf8'), 'keep');
    const ours = writeScript(root, Buffer.from('x'), undefined);
    assert.equal(await removeScriptDir(ours.dir, join(base, 'elsewhere')), false, 'not its root');
    assert.equal(await removeScriptDir(ours.dir, root), true);
    if (!IS_ROOT) return t.skip('needs root to give a directory away');
    const theirs = join(root, 'fleetcmd-theirs');
    await mkdir(theirs, { mode: 0o700 });
    await chown(theirs, 65534, 65534);
    assert.equal(await removeScriptDir(theirs, root), false);
  });

  void it("gives the script to the user it runs as and keeps the directory the agent's", async (t) => {
    if (!IS_ROOT) return t.skip('needs root to give a file away');
    const root = join(base, 'switch');
    await mkdir(root, { mode: 0o700 });
    const user = { name: 'nobody', uid: 65534, gid: 65534, home: '/', shell: '/bin/sh' };
    const { dir, script } = writeScript(root, Buffer.from('id\n'), user);
    const f = await stat(script);
    assert.deepEqual([f.uid, f.gid, f.mode & 0o777], [65534, 65534, 0o600]);
    const d = await stat(dir);
    assert.deepEqual([d.uid, d.mode & 0o777], [0, 0o711]);
  });
});

void describe('script directory ownership and mode', () => {
  const cases: [string, { uid: number; mode: number }, string | undefined][] = [
    ["root's, private", { uid: 0, mode: 0o40700 }, undefined],
    ["the agent's, 0755", { uid: 1000, mode: 0o40755 }, undefined],
    ['sticky and open to all (/tmp, /dev/shm)', { uid: 0, mode: 0o41777 }, undefined],
    ["another user's", { uid: 1001, mode: 0o40700 }, 'is owned by uid 1001'],
    ['group-writable', { uid: 0, mode: 0o40775 }, 'is writable by other users and not sticky'],
    ['world-writable', { uid: 1000, mode: 0o40757 }, 'is writable by other users and not sticky'],
  ];
  for (const [name, st, problem] of cases) {
    void it(name, () => assert.equal(ownershipProblem(st, 1000), problem));
  }
});

void describe('recorded script directories an agent may remove', () => {
  const cases: [string, boolean][] = [
    ['/dev/shm/fleetcmd-abc', true],
    ['/tmp/fleetcmd-abc', false],
    ['/dev/shm/other-abc', false],
    ['/dev/shm/sub/fleetcmd-abc', false],
    ['/dev/shm/../etc/fleetcmd-abc', false],
    ['/dev/shm/fleetcmd-abc/', false],
    ['dev/shm/fleetcmd-abc', false],
    ['/var/fleetcmd-abc', false],
  ];
  for (const [dir, removable] of cases) {
    void it(`${dir} -> ${removable}`, () =>
      assert.equal(isAgentScriptDir(dir, '/dev/shm'), removable));
  }
});
