import {
  accessSync,
  chmodSync,
  chownSync,
  constants as fsConstants,
  mkdtempSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { rm, rmdir, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { selfAccount, type Account } from './accounts.js';

/** Script directories are named `fleetcmd-<random>` in their root. */
const SCRIPT_DIR_PREFIX = 'fleetcmd-';

/** Memory-backed and writable on nearly every Linux, containers included. */
const SHARED_MEMORY = '/dev/shm';

/**
 * Why a directory with this owner and mode cannot hold run scripts, or undefined when it can:
 * owned by root or by `selfUid`, and not writable by group or others unless sticky (else another
 * user could rename a fresh script directory and put a link in its place before the script is
 * written into it).
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
 * Why `dir` cannot hold run scripts, or undefined when it can: it must be a directory this
 * process may create entries in, and pass ownershipProblem.
 */
export function scriptRootProblem(dir: string): string | undefined {
  try {
    const st = statSync(dir);
    if (!st.isDirectory()) return 'is not a directory';
    accessSync(dir, fsConstants.W_OK | fsConstants.X_OK);
    // selfAccount() only when root does not own it, as before: it throws for a uid with no
    // passwd entry, which a root-owned directory never needed to know.
    return ownershipProblem(st, st.uid === 0 ? 0 : selfAccount().uid);
  } catch (err) {
    return `is not a directory the agent can write to (${(err as NodeJS.ErrnoException).code ?? String(err)})`;
  }
}

let defaultRoots: readonly string[] | undefined;

/**
 * Where script directories go unless FLEETCMD_SCRIPT_DIR says: /dev/shm when it can hold them,
 * else (and for a run that cannot make its directory there: full, read-only) the system's
 * temporary directory. A script is small, lives for one run and may hold secrets: memory suits
 * it, and on a disk-backed /tmp (ext4 here) the directory's create, write and removal cost
 * ~0.2-0.9 ms of the agent's event loop per run, against ~30 µs.
 */
export function defaultScriptRoots(): readonly string[] {
  defaultRoots ??=
    scriptRootProblem(SHARED_MEMORY) === undefined ? [SHARED_MEMORY, tmpdir()] : [tmpdir()];
  return defaultRoots;
}

/** The first of defaultScriptRoots(). */
export function defaultScriptRoot(): string {
  return defaultScriptRoots()[0] ?? tmpdir();
}

export interface WrittenScript {
  /** The run's private script directory. */
  dir: string;
  /** The script file in it. */
  script: string;
}

/**
 * Makes a run's script directory and file in the first root that takes them. When the command
 * runs as another user, the file is that user's and the directory stays the agent's, 0711: the
 * user can read the script but cannot replace it or the directory, so removing them later never
 * follows a link the user made.
 */
export function writeScript(
  roots: readonly string[],
  content: Buffer,
  owner: Account | undefined,
): WrittenScript {
  let failure: unknown;
  for (const root of roots) {
    let dir: string | undefined;
    try {
      dir = mkdtempSync(join(root, SCRIPT_DIR_PREFIX));
      const script = join(dir, 'script');
      writeFileSync(script, content, { mode: 0o600 });
      if (owner) {
        chownSync(script, owner.uid, owner.gid);
        chmodSync(dir, 0o711);
      }
      return { dir, script };
    } catch (err) {
      failure = err;
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    }
  }
  throw failure ?? new Error('no script directory');
}

/**
 * Removes a script directory: the script and the directory when that is all there is (two
 * system calls, not rm's lstat/readdir walk), everything in it when the command left files
 * there or the script is gone already. Asynchronous, unlike the creation: freeing blocks can
 * wait on the disk (ext4 with `discard` issues the discard then): rmdir took ~0.4 ms of wall
 * time here.
 */
async function removeDir(dir: string): Promise<void> {
  try {
    await unlink(join(dir, 'script'));
    await rmdir(dir);
  } catch {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Removes the script directory of a run of this process (see removeDir). Never fails. */
export function removeOwnDir(dir: string): Promise<void> {
  return removeDir(dir).catch(() => undefined);
}

/**
 * Whether `dir` (as recorded in Redis by an earlier life of the agent) is one an agent creates:
 * `fleetcmd-*` directly in `root`, or in `tmp`, where agents before FLEETCMD_SCRIPT_DIR made them
 * all. A relative or unnormalised path never is: resolve() of it differs from it.
 */
export function isAgentScriptDir(dir: string, root: string, tmp: string): boolean {
  if (resolve(dir) !== dir || !basename(dir).startsWith(SCRIPT_DIR_PREFIX)) return false;
  const parent = dirname(dir);
  return parent === resolve(root) || parent === resolve(tmp);
}

/** Removes a run's script directory recorded by an earlier life of the agent (see isAgentScriptDir). */
export async function removeScriptDir(dir: string, root = defaultScriptRoot()): Promise<void> {
  if (!isAgentScriptDir(dir, root, tmpdir())) return;
  await removeDir(dir);
}
