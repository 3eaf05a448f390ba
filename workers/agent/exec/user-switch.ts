import { findOnPath } from '../../../src/shared/on-path.js';
import { onlyPrimaryGroup, type Account } from './accounts.js';

/**
 * How the command gets its account's identity: it is the agent's own ('same'); through setpriv
 * at `path`; or through Node's uid/gid spawn options ('ids').
 */
export type UserSwitch = { kind: 'same' } | { kind: 'setpriv'; path: string } | { kind: 'ids' };

let setprivLookup: Promise<string | undefined> | undefined;

function setprivPath(): Promise<string | undefined> {
  setprivLookup ??= findOnPath('setpriv');
  return setprivLookup;
}

/**
 * How a command runs as `account` (`switching`: not the agent's own uid), or undefined when it
 * cannot without losing groups. A root agent switches user through setpriv (util-linux) with
 * --init-groups: the command gets the user's uid, primary gid and supplementary groups, as a
 * login would. Node's own uid/gid spawn options call setgroups(0) and so drop every
 * supplementary group; they are used only where setpriv is missing and the user has no
 * supplementary group to lose.
 */
export async function userSwitch(
  account: Account,
  switching: boolean,
): Promise<UserSwitch | undefined> {
  if (!switching) return { kind: 'same' };
  const setpriv = await setprivPath();
  if (setpriv) return { kind: 'setpriv', path: setpriv };
  return (await onlyPrimaryGroup(account)) ? { kind: 'ids' } : undefined;
}
