import {
  accessSync,
  closeSync,
  constants as fsConstants,
  fchmodSync,
  fchownSync,
  fstatSync,
  lstatSync,
  mkdtempSync,
  openSync,
  realpathSync,
  rmdirSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import type { Stats } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import type { Account } from './accounts.js';

/** Script directories are named `fleetcmd-<random>` in their root. */
const SCRIPT_DIR_PREFIX = 'fleetcmd-';

/** Memory-backed and writable on nearly every Linux, containers included. */
const SHARED_MEMORY = '/dev/shm';

const { O_CREAT, O_DIRECTORY, O_EXCL, O_NOFOLLOW, O_RDONLY, O_WRONLY } = fsConstants;

/** The agent's own uid: the one owner, besides root, a script path may have. */
function selfUid(): number {
  return process.geteuid?.() ?? 0;
}

/**
 * Why a directory with this owner and mode cannot be on the way to run scripts, or undefined
 * when it can: owned by root or by `selfUid`, and not writable by group or others unless
 * sticky (else another user could rename what is in it and put their own in its place).
 */
export function ownershipProblem(
  st: { uid: number; mode: number },
  selfUid: number,
): string | undefined {
  if (st.uid !== 0 && st.uid !== selfUid) return `is owned by uid ${st.uid}`;
  if ((st.mode & 0o022) !== 0 && (st.mode & 0o1000) === 0) {
    return 'is writable by other users and not sticky';
  }
  return undefined;
}

/**
 * Why `real` (an absolute path without links) cannot hold run scripts, or undefined: it and
 * every directory above it must be a directory (lstat: never a link) that passes
 * ownershipProblem, so that no user but root and the agent's can change what the path names.
 */
function pathProblem(real: string): string | undefined {
  const uid = selfUid();
  let path = '/';
  for (const part of ['', ...real.split('/').filter((p) => p !== '')]) {
    path = join(path, part);
    const st = lstatSync(path);
    const problem = st.isDirectory() ? ownershipProblem(st, uid) : 'is not a directory';
    if (problem !== undefined) {
      return path === real ? problem : `is inside ${path}, which ${problem}`;
    }
  }
  accessSync(real, fsConstants.W_OK | fsConstants.X_OK);
  return undefined;
}

/** A directory checked to hold run scripts (`root`: its real path), or why it cannot. */
export type RootCheck = { root: string } | { problem: string };

/** Checks `dir` (see pathProblem), following its links once, now, to its real path. */
export function checkScriptRoot(dir: string): RootCheck {
  try {
    const real = realpathSync(dir);
    const problem = pathProblem(real);
    return problem === undefined ? { root: real } : { problem };
  } catch (err) {
    return {
      problem: `is not a directory the agent can write to (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
    };
  }
}

/** Why `dir` cannot hold run scripts (see checkScriptRoot), or undefined when it can. */
export function scriptRootProblem(dir: string): string | undefined {
  const check = checkScriptRoot(dir);
  return 'problem' in check ? check.problem : undefined;
}

/**
 * The agent's script root: FLEETCMD_SCRIPT_DIR when set, else /dev/shm, else the system's
 * temporary directory, the first that passes checkScriptRoot; chosen once, at the agent's
 * start. A script is small, lives for one run and may hold secrets: memory suits it, and on a
 * disk-backed /tmp (ext4 here) its create, write and removal cost ~0.2-0.9 ms of the agent's
 * event loop per run, against ~30 µs. A run never falls back to another root.
 */
export function chooseScriptRoot(configured: string | undefined): RootCheck {
  if (configured !== undefined) {
    const check = checkScriptRoot(configured);
    return 'problem' in check
      ? { problem: `FLEETCMD_SCRIPT_DIR: ${configured} ${check.problem}` }
      : check;
  }
  const problems: string[] = [];
  for (const dir of [SHARED_MEMORY, tmpdir()]) {
    const check = checkScriptRoot(dir);
    if ('root' in check) return check;
    problems.push(`${dir} ${check.problem}`);
  }
  return {
    problem: `no directory for run scripts (${problems.join('; ')}): set FLEETCMD_SCRIPT_DIR`,
  };
}

let defaultRoot: RootCheck | undefined;

/** chooseScriptRoot's default, for a process that was given none (tests). */
export function defaultScriptRoot(): RootCheck {
  defaultRoot ??= chooseScriptRoot(undefined);
  return defaultRoot;
}

export interface WrittenScript {
  /** The run's private script directory. */
  dir: string;
  /** The script file in it. */
  script: string;
  /** The directory's inode: removal checks it is still the same directory. */
  ino: number;
}

/**
 * Makes a run's script directory and file in `root` (checked again first: every directory on
 * the way). The directory is new (mkdtemp: mkdir never reuses what is there) and the agent's;
 * the file is created in it with O_EXCL|O_NOFOLLOW and given to `owner` (when the command runs
 * as another user) through its descriptor, the directory then made 0711: the user can read the
 * script but cannot replace it or the directory. Both are checked with lstat afterwards.
 */
export function writeScript(
  root: string,
  content: Buffer,
  owner: Account | undefined,
): WrittenScript {
  const problem = pathProblem(root);
  if (problem !== undefined) throw new Error(`the script directory ${root} ${problem}`);
  const dir = mkdtempSync(join(root, SCRIPT_DIR_PREFIX));
  let dirFd: number;
  try {
    dirFd = openSync(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
  } catch (err) {
    rmdirSync(dir);
    throw err;
  }
  const ino = fstatSync(dirFd).ino;
  try {
    const script = join(dir, 'script');
    const fd = openSync(script, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
    let fileIno: number;
    try {
      writeFileSync(fd, content);
      if (owner) {
        fchownSync(fd, owner.uid, owner.gid);
        fchmodSync(dirFd, 0o711);
      }
      fileIno = fstatSync(fd).ino;
    } finally {
      closeSync(fd);
    }
    if (!sameEntry(dir, ino, true) || !sameEntry(script, fileIno, false)) {
      throw new Error(`${dir} changed while the script was written`);
    }
    return { dir, script, ino };
  } catch (err) {
    // What it made so far (nothing, if `dir` is no longer the directory it made).
    removeDir(dir, ino);
    throw err;
  } finally {
    closeSync(dirFd);
  }
}

/** Whether `path` is (lstat: not through a link) the directory or file with inode `ino`. */
function sameEntry(path: string, ino: number, directory: boolean): boolean {
  const st = lstatSync(path, { throwIfNoEntry: false });
  return st !== undefined && st.ino === ino && (directory ? st.isDirectory() : st.isFile());
}

/**
 * Removes a script directory the agent made: the script, then the directory, once `lstat` shows
 * `dir` to be a directory (not a link) that the agent owns, with the mode it gave it, and the
 * inode it made when that is known. Never recursive: a directory the command left files in is
 * left where it is (in a root only root and the agent can change). Returns whether it is gone;
 * never throws. Synchronous, as writeScript is: the root is local, and three thread-pool round trips (each
 * waking the event loop) cost more than the system calls, at the end of every run, which for a
 * second's fires is while the slot's other commands are starting.
 */
function removeDir(dir: string, ino: number | undefined): boolean {
  let st: Stats | undefined;
  try {
    st = lstatSync(dir, { throwIfNoEntry: false });
  } catch {
    return false;
  }
  if (!st?.isDirectory() || st.uid !== selfUid()) return false;
  if (ino !== undefined ? st.ino !== ino : ![0o700, 0o711].includes(st.mode & 0o7777)) {
    return false;
  }
  try {
    unlinkSync(join(dir, 'script'));
  } catch {
    // No script (the command removed it): the directory may still go.
  }
  try {
    rmdirSync(dir);
    return true;
  } catch {
    return false;
  }
}

/** Removes the script directory of a run of this process (see removeDir). Never fails. */
export function removeOwnDir(written: WrittenScript): Promise<boolean> {
  return Promise.resolve(removeDir(written.dir, written.ino));
}

/**
 * Whether `dir` (as recorded in Redis by an earlier life of the agent) is one an agent creates
 * in `root`: `fleetcmd-*` directly in it. A relative or unnormalised path never is: resolve()
 * of it differs from it.
 */
export function isAgentScriptDir(dir: string, root: string): boolean {
  if (resolve(dir) !== dir || !basename(dir).startsWith(SCRIPT_DIR_PREFIX)) return false;
  return dirname(dir) === resolve(root);
}

/**
 * Removes a run's script directory recorded by an earlier life of the agent: only one in the
 * agent's current root (see isAgentScriptDir) while that root still passes its checks, and
 * only as removeDir allows. Returns whether it is gone.
 */
export async function removeScriptDir(dir: string, root: string): Promise<boolean> {
  if (!isAgentScriptDir(dir, root)) return false;
  try {
    if (pathProblem(root) !== undefined) return false;
    return removeDir(dir, undefined);
  } catch {
    return false;
  }
}
