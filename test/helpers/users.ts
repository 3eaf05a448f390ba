import { spawnSync } from 'node:child_process';

/** Runs useradd/groupadd/userdel, retrying while another process holds /etc/passwd's lock. */
export function admin(cmd: string, args: string[]): void {
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
