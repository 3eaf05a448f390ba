import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { userInfo } from 'node:os';

export interface Account {
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
}

type Database = 'passwd' | 'group';

/** The line of `name` in the text of /etc/passwd or /etc/group, if it has one. */
export function entryLine(text: string, name: string): string | undefined {
  return text.split('\n').find((l) => l.split(':')[0] === name);
}

/** The fields of `line` when it is `name`'s entry (a passwd or group line). */
function fieldsOf(line: string | undefined, name: string): string[] | undefined {
  const parts = line?.split(':');
  return parts && parts[0] === name ? parts : undefined;
}

/** `name`'s account from its passwd line (`name:pw:uid:gid:gecos:home:shell`), if well formed. */
export function accountFromPasswd(name: string, line: string | undefined): Account | undefined {
  const parts = fieldsOf(line, name);
  if (!parts || parts.length < 7) return undefined;
  const uid = Number(parts[2]);
  const gid = Number(parts[3]);
  if (!Number.isInteger(uid) || !Number.isInteger(gid)) return undefined;
  return { name, uid, gid, home: parts[5] || '/', shell: parts[6] || '/bin/sh' };
}

/** Group `name`'s id from its group line (`name:pw:gid:members`), if well formed. */
export function gidFromGroup(name: string, line: string | undefined): number | undefined {
  const parts = fieldsOf(line, name);
  const gid = Number(parts?.[2] ?? NaN);
  return parts && parts.length >= 3 && Number.isInteger(gid) ? gid : undefined;
}

async function getent(database: Database, name: string): Promise<string | undefined> {
  return new Promise((resolvePromise) => {
    execFile('getent', [database, name], { timeout: 5_000 }, (err, stdout) => {
      resolvePromise(err ? undefined : stdout.split('\n')[0]);
    });
  });
}

/** `name`'s line in passwd or group, through NSS (getent), else from /etc/<database>. */
async function accountLine(database: Database, name: string): Promise<string | undefined> {
  const line = await getent(database, name);
  if (line !== undefined) return line;
  const text = await readFile(`/etc/${database}`, 'utf8').catch(() => '');
  return entryLine(text, name);
}

/** Looks a user up through NSS (getent), falling back to /etc/passwd. */
export async function lookupAccount(name: string): Promise<Account | undefined> {
  return accountFromPasswd(name, await accountLine('passwd', name));
}

/** A group's id, looked up through NSS (getent), falling back to /etc/group. */
export async function lookupGroupId(name: string): Promise<number | undefined> {
  return gidFromGroup(name, await accountLine('group', name));
}

let ownAccount: Account | undefined;

/**
 * The agent's own account, read once: the process never changes user, and userInfo() is a
 * passwd lookup (through NSS) that cost a run ~30 µs.
 */
export function selfAccount(): Account {
  if (!ownAccount) {
    const me = userInfo();
    ownAccount = {
      name: me.username,
      uid: me.uid,
      gid: me.gid,
      home: me.homedir,
      shell: me.shell ?? '/bin/sh',
    };
  }
  return ownAccount;
}

/** Whether `id -G` printed `gid` alone (once or more): the account has no other group. */
export function onlyGroupIs(idOutput: string, gid: number): boolean {
  const groups = idOutput.trim().split(/\s+/).filter(Boolean).map(Number);
  return groups.length > 0 && groups.every((g) => g === gid);
}

/** Whether `account` belongs to no group but its primary one (`id -G` through NSS). */
export function onlyPrimaryGroup(account: Account): Promise<boolean> {
  return new Promise((resolvePromise) => {
    execFile('id', ['-G', account.name], { timeout: 5_000 }, (err, stdout) => {
      resolvePromise(!err && onlyGroupIs(stdout, account.gid));
    });
  });
}
