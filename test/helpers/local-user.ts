import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

/** Runs useradd/groupadd/userdel, retrying while another process holds /etc/passwd's lock. */
export function userAdmin(cmd: string, args: string[]): void {
  for (let attempt = 0; ; attempt++) {
    const r = spawnSync(cmd, args, { encoding: 'utf8' });
    if (r.status === 0) return;
    // 10: can't update the group/passwd file (locked by a parallel useradd elsewhere).
    if (attempt >= 20 || !/lock/i.test(r.stderr)) {
      throw new Error(`${cmd} ${args.join(' ')}: exit ${r.status}: ${r.stderr}`);
    }
    spawnSync('sleep', ['0.2']);
  }
}

/** The uid and primary gid of a local user. */
export function idsOf(user: string): { uid: number; gid: number } {
  const uid = Number(spawnSync('id', ['-u', user], { encoding: 'utf8' }).stdout.trim());
  const gid = Number(spawnSync('id', ['-g', user], { encoding: 'utf8' }).stdout.trim());
  assert.ok(uid > 0 && gid > 0, `ids of ${user}`);
  return { uid, gid };
}
