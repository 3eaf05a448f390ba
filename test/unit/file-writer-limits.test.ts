/**
 * The agent's file writer refuses what the API refuses (defence in depth: a job in Redis may
 * come from anything that can write there): a Name over 255 bytes or with control characters,
 * and a set-user-id or set-group-id FileMode on a group- or world-writable file unless the
 * agent runs with FLEETCMD_ALLOW_SETUID_FILES=true. Real files in a temporary directory.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { writeFileAtomically, type FileRequest } from '../../workers/agent/file-writer.js';

void describe('file writer: Name and FileMode limits', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fleetcmd-writer-limits-'));
  });
  after(async () => {
    delete process.env.FLEETCMD_ALLOW_SETUID_FILES;
    await rm(dir, { recursive: true, force: true });
  });

  const request = (change: Partial<FileRequest>): FileRequest => ({
    invokeId: 'f-abcdefgh',
    name: 'f.txt',
    targetDir: dir,
    mode: 0o644,
    owner: '',
    group: '',
    overwrite: true,
    content: Buffer.from('hi'),
    deadlineMs: Number.MAX_SAFE_INTEGER,
    ...change,
  });

  void it('a Name of 170 bytes is written; one of 256 bytes is refused naming its length', async () => {
    const fits = 'é'.repeat(85);
    assert.equal((await writeFileAtomically(request({ name: fits }))).status, 'Success');
    await stat(join(dir, fits));
    const o = await writeFileAtomically(request({ name: 'é'.repeat(128) }));
    assert.equal(o.status, 'Invalid');
    assert.equal(o.errorCode, 'FileNameInvalid');
    assert.match(o.errorInfo, /256 bytes.*255/);
  });

  void it('a Name with a control character is refused', async () => {
    for (const c of ['\n', '\x7f', '\x1b']) {
      const o = await writeFileAtomically(request({ name: `a${c}b` }));
      assert.equal(o.status, 'Invalid', JSON.stringify(c));
      assert.equal(o.errorCode, 'FileNameInvalid');
      assert.match(o.errorInfo, /control character/);
    }
  });

  void it('setuid or setgid on a group- or world-writable file is refused unless allowed', async () => {
    for (const mode of [0o4777, 0o2775, 0o4766]) {
      const o = await writeFileAtomically(request({ name: `m${mode.toString(8)}`, mode }));
      assert.equal(o.status, 'Invalid', mode.toString(8));
      assert.equal(o.errorCode, 'FileAuthorityInvalid');
      assert.match(o.errorInfo, /FLEETCMD_ALLOW_SETUID_FILES/);
    }
    assert.deepEqual(
      (await readdir(dir)).filter((f) => f.startsWith('m')),
      [],
      'nothing refused was written',
    );
    const ok = await writeFileAtomically(request({ name: 'm4755', mode: 0o4755 }));
    assert.equal(ok.status, 'Success');
    assert.equal((await stat(join(dir, 'm4755'))).mode & 0o7777, 0o4755);

    process.env.FLEETCMD_ALLOW_SETUID_FILES = 'true';
    try {
      const allowed = await writeFileAtomically(request({ name: 'm4777', mode: 0o4777 }));
      assert.equal(allowed.status, 'Success', allowed.errorInfo);
      assert.equal((await stat(join(dir, 'm4777'))).mode & 0o7777, 0o4777);
    } finally {
      delete process.env.FLEETCMD_ALLOW_SETUID_FILES;
    }
  });
});
